// Recording: what each call buffers (the envelope of contract §3 with its ids and time), what it refuses at
// the call, and that the device id is made once and kept.

import assert from "node:assert/strict";
import { test } from "node:test";
import { SpoolClient } from "../src/client.js";
import { memoryStorage } from "../src/storage/memory.js";
import { CLIENT_ID, rig, START } from "./helpers.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("track buffers the event with its insert id, its own time, the device and the session", async () => {
  const { make, server, clock } = rig();
  const client = make();
  const insertId = await client.track("door_opened", { door: "north", profileId: "user-42", groups: ["g1"] });
  clock.advance(3 * 24 * 3600_000); // sent three days later: the time stays the call's
  await client.flush();
  const [envelope] = server.events();
  assert.ok(envelope);
  assert.equal(envelope.type, "track");
  assert.equal(envelope.payload.name, "door_opened");
  assert.equal(envelope.payload.profileId, "user-42");
  assert.deepEqual(envelope.payload.groups, ["g1"]);
  const p = envelope.payload.properties ?? {};
  assert.equal(p.door, "north");
  assert.equal(p.__insertId, insertId);
  assert.match(String(insertId), UUID);
  assert.equal(p.__timestamp, "2030-01-01T12:00:00.000Z");
  assert.equal(p.__deviceId, client.getDeviceId());
  assert.match(String(p.__deviceId), UUID);
  assert.equal(p.__sessionId, client.getSessionId());
  assert.match(String(p.__sessionId), UUID);
  assert.ok(!("profileId" in p) && !("groups" in p), "profileId and groups go to the payload, not the properties");
});

test("the time has milliseconds and is the clock at the call, not when the row is written", async () => {
  const { make, server, clock } = rig();
  const client = make();
  clock.now = START + 250;
  const pending = client.track("a");
  clock.now = START + 9_000;
  await pending;
  await client.flush();
  assert.equal(server.events()[0]?.payload.properties?.__timestamp, "2030-01-01T12:00:00.250Z");
});

test("the app's own specials win", async () => {
  const { make, server } = rig();
  const client = make();
  const given = { __insertId: "mine", __timestamp: "2029-12-31T00:00:00Z", __deviceId: "dev-1", __sessionId: "s-1" };
  assert.equal(await client.track("a", given), "mine");
  await client.flush();
  const p = server.events()[0]?.payload.properties ?? {};
  assert.deepEqual([p.__insertId, p.__timestamp, p.__deviceId, p.__sessionId], ["mine", "2029-12-31T00:00:00Z", "dev-1", "s-1"]);
});

test("global properties go with every event that follows, and the event's own win", async () => {
  const { make, server } = rig();
  const client = make();
  await client.track("before");
  client.setGlobalProperties({ app_version: "1.0.2", tier: "free" });
  await client.track("after", { tier: "pro" });
  await client.flush();
  const [before, after] = server.events().map((e) => e.payload.properties ?? {});
  assert.equal(before?.app_version, undefined);
  assert.equal(after?.app_version, "1.0.2");
  assert.equal(after?.tier, "pro");
});

test("what JSON cannot carry is refused at the call, and nothing is buffered", async () => {
  const { make } = rig();
  const client = make();
  const cyclic: { [key: string]: unknown } = {};
  cyclic.self = cyclic;
  for (const bad of [{ n: Number.NaN }, { n: Infinity }, { f: () => 1 }, { m: new Map() }, { s: new Set([1]) }, { b: BigInt(1) }, cyclic]) {
    await assert.rejects(client.track("bad", bad), TypeError);
  }
  await assert.rejects(client.identify({ profileId: "u", properties: { n: Number.NaN } }), TypeError);
  assert.equal(await client.pending(), 0);
  await client.track("ok", { when: new Date(START), nothing: undefined, list: [1, "2"] }); // a Date is sent as ISO text
  assert.equal(await client.pending(), 1);
});

test("the device id is made once and kept in the storage; the app's own replaces it and is kept", async () => {
  const storage = memoryStorage();
  const options = { apiUrl: "https://spool.test", clientId: CLIENT_ID, storage, autoFlush: false, page: null, locks: null, fetch: async () => Promise.reject(new Error("offline")) };
  const first = new SpoolClient(options);
  await first.ready;
  const made = first.getDeviceId();
  await first.close();
  const reloaded = new SpoolClient(options);
  await reloaded.ready;
  assert.equal(reloaded.getDeviceId(), made);
  const own = new SpoolClient({ ...options, deviceId: "  kiosk-7 " });
  await own.ready;
  assert.equal(own.getDeviceId(), "kiosk-7");
  const after = new SpoolClient(options);
  await after.ready;
  assert.equal(after.getDeviceId(), "kiosk-7", "reopening without a device id keeps the app's");
});

test("bad options fail at the constructor", () => {
  const base = { apiUrl: "https://spool.test", clientId: CLIENT_ID, storage: memoryStorage(), fetch: async () => Promise.reject(new Error("x")) };
  assert.throws(() => new SpoolClient({ ...base, apiUrl: "ftp://spool.test" }), /apiUrl/);
  assert.throws(() => new SpoolClient({ ...base, apiUrl: "spool.test" }), /apiUrl/);
  assert.throws(() => new SpoolClient({ ...base, clientId: "" }), /clientId/);
  assert.throws(() => new SpoolClient({ ...base, deviceId: "x".repeat(65) }), /deviceId/);
  assert.throws(() => new SpoolClient({ ...base, deviceId: "  " }), /deviceId/);
  assert.throws(() => new SpoolClient({ ...base, maxBufferEvents: 0 }), /maxBufferEvents/);
  assert.throws(() => new SpoolClient({ ...base, sessionTimeoutMs: Number.NaN }), /sessionTimeoutMs/);
  assert.throws(() => new SpoolClient({ apiUrl: "https://spool.test", clientId: CLIENT_ID, fetch: base.fetch }), /IndexedDB is not available/);
});

test("profile changes are the plain envelopes of the wire protocol, without special properties", async () => {
  const { make, server } = rig();
  const client = make();
  client.setGlobalProperties({ app_version: "1.0.2" });
  await client.identify({ profileId: "u1", firstName: "Joe", email: "joe@example.com", properties: { tier: "premium" } });
  await client.increment({ profileId: "u1", property: "visits" });
  await client.decrement({ property: "credits", value: 2 }); // the identified profile
  await client.upsertGroup({ id: "org_acme", type: "company", name: "Acme" });
  await client.setGroup("org_acme");
  await client.track("after");
  await client.flush();
  const changes = server.requests[0]?.body.events ?? [];
  assert.deepEqual(changes, [
    { type: "identify", payload: { profileId: "u1", firstName: "Joe", email: "joe@example.com", properties: { app_version: "1.0.2", tier: "premium" } } },
    { type: "increment", payload: { profileId: "u1", property: "visits" } },
    { type: "decrement", payload: { property: "credits", value: 2, profileId: "u1" } },
    { type: "group", payload: { id: "org_acme", type: "company", name: "Acme" } },
    { type: "assign_group", payload: { groupIds: ["org_acme"], profileId: "u1" } },
  ]);
  const event = server.requests[1]?.body.events[0];
  assert.equal(event?.payload.profileId, "u1", "the events that follow an identify carry its profile");
  assert.deepEqual(event?.payload.groups, ["org_acme"]);
});

test("identify with only a profile id buffers nothing but sets the profile; clear() forgets it", async () => {
  const { make, server } = rig();
  const client = make();
  await client.identify({ profileId: "u9" });
  assert.equal(await client.pending(), 0);
  await client.track("mine");
  client.clear();
  await client.track("anonymous");
  await client.flush();
  const [mine, anonymous] = server.events();
  assert.equal(mine?.payload.profileId, "u9");
  assert.equal(anonymous?.payload.profileId, undefined);
  assert.notEqual(mine?.payload.properties?.__sessionId, anonymous?.payload.properties?.__sessionId, "clear() starts a new session");
  assert.equal(mine?.payload.properties?.__deviceId, anonymous?.payload.properties?.__deviceId, "the device stays");
});

test("record calls reach the buffer in the order they were made, even when not awaited", async () => {
  const { make, server } = rig();
  const client = make();
  const calls = [];
  for (let i = 0; i < 30; i += 1) {
    calls.push(i % 3 ? client.increment({ profileId: "u", property: `p${i}` }) : client.identify({ profileId: "u", firstName: `n${i}` }));
  }
  await Promise.all(calls);
  await client.flush();
  const order = server.events().map((e) => String(e.payload.property ?? e.payload.firstName));
  assert.deepEqual(order, Array.from({ length: 30 }, (_, i) => (i % 3 ? `p${i}` : `n${i}`)));
});

test("filter leaves a call out of the buffer, as in the OpenPanel SDK", async () => {
  const { make } = rig();
  const client = make({ filter: (envelope) => envelope.payload.name !== "noise" && envelope.type !== "increment" });
  assert.equal(await client.track("noise"), undefined);
  await client.increment({ profileId: "u", property: "x" });
  assert.match(String(await client.track("signal")), UUID);
  assert.equal(await client.pending(), 1);
});

test("revenue is a track of `revenue` with __revenue", async () => {
  const { make, server } = rig();
  const client = make();
  await client.revenue(1299, { currency: "EUR" });
  await client.flush();
  const event = server.events()[0];
  assert.equal(event?.payload.name, "revenue");
  assert.equal(event?.payload.properties?.__revenue, 1299);
  assert.equal(event?.payload.properties?.currency, "EUR");
});

test("a lone surrogate is buffered as an escape, not a crash", async () => {
  const { make, server } = rig();
  const client = make();
  await client.track("a", { text: "bad \ud800 half" });
  await client.flush();
  assert.ok(server.requests[0]?.text.includes("\\ud800"));
});

test("a closed client says so", async () => {
  const { make } = rig();
  const client = make();
  await client.close();
  await assert.rejects(client.track("late"), /closed/);
});
