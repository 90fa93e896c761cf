// The client's session (contract §6.2 rule 0): a new one after 30 minutes without events or at 24 hours,
// kept in the storage so that a reload or a second tab goes on with it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_SESSION_RULE, sessionAt, startsSession, type Session } from "../src/session.js";
import { rig, START } from "./helpers.js";

const MIN = 60_000;
const HOUR = 60 * MIN;

test("when an event starts a session", () => {
  const current: Session = { id: "s", startedAt: START, lastAt: START + 10 * MIN };
  const cases: [string, number, boolean][] = [
    ["right after the last event", START + 11 * MIN, false],
    ["exactly 30 minutes idle", START + 40 * MIN, false],
    ["30 minutes and 1 ms idle", START + 40 * MIN + 1, true],
    ["earlier than the last event (clock back a little)", START + 5 * MIN, false],
    ["clock back by the timeout before the start", START - 30 * MIN, false],
    ["clock back further than the timeout", START - 30 * MIN - 1, true],
  ];
  for (const [what, now, starts] of cases) assert.equal(startsSession(current, now, DEFAULT_SESSION_RULE), starts, what);
  assert.equal(startsSession(undefined, START, DEFAULT_SESSION_RULE), true, "no session yet");
  const old: Session = { id: "s", startedAt: START, lastAt: START + 24 * HOUR - MIN };
  assert.equal(startsSession(old, START + 24 * HOUR - 1, DEFAULT_SESSION_RULE), false, "just under 24 hours");
  assert.equal(startsSession(old, START + 24 * HOUR, DEFAULT_SESSION_RULE), true, "at 24 hours");
});

test("sessionAt moves the last event on, and never back", () => {
  const current: Session = { id: "s", startedAt: START, lastAt: START + 10 * MIN };
  assert.deepEqual(sessionAt(current, START + 12 * MIN, DEFAULT_SESSION_RULE, () => "new"), { id: "s", startedAt: START, lastAt: START + 12 * MIN });
  assert.deepEqual(sessionAt(current, START + 5 * MIN, DEFAULT_SESSION_RULE, () => "new"), current);
  assert.deepEqual(sessionAt(current, START + 41 * MIN, DEFAULT_SESSION_RULE, () => "new"), { id: "new", startedAt: START + 41 * MIN, lastAt: START + 41 * MIN });
});

async function sessions(times: number[], options: Parameters<ReturnType<typeof rig>["make"]>[0] = {}): Promise<string[]> {
  const { make, server, clock } = rig();
  const client = make(options);
  for (const at of times) {
    clock.now = at;
    await client.track("tick");
  }
  await client.flush();
  return server.events().map((e) => String(e.payload.properties?.__sessionId));
}

test("a kiosk that records every 4 minutes for 40 hours has the sessions that happened: 2 (the 24-hour cap)", async () => {
  const times = Array.from({ length: 600 }, (_, i) => START + i * 4 * MIN);
  const ids = await sessions(times);
  const distinct = [...new Set(ids)];
  assert.equal(distinct.length, 2);
  assert.equal(ids.filter((id) => id === distinct[0]).length, 360, "the first session is its first 24 hours");
});

test("a visit that crosses :00 or :30 stays one session; a pause over 30 minutes starts the next", async () => {
  const visit = [START - 10 * MIN, START - 1, START + 1, START + 10 * MIN]; // across 12:00
  const ids = await sessions([...visit, START + 41 * MIN]);
  assert.equal(new Set(ids.slice(0, 4)).size, 1);
  assert.notEqual(ids[4], ids[3]);
});

test("the timeout is a setting", async () => {
  const ids = await sessions([START, START + 4 * MIN, START + 10 * MIN], { sessionTimeoutMs: 5 * MIN, sessionMaxMs: 8 * MIN });
  assert.equal(ids[0], ids[1]);
  assert.notEqual(ids[1], ids[2]);
});

test("the session survives a reload and is shared with a second tab", async () => {
  const { make, server, clock } = rig();
  const first = make();
  await first.track("page1");
  await first.close();
  clock.advance(5 * MIN);
  const reloaded = make();
  await reloaded.ready;
  assert.equal(reloaded.getSessionId(), first.getSessionId(), "the id is known at once after a reload");
  const otherTab = make();
  await reloaded.track("page2");
  clock.advance(MIN);
  await otherTab.track("tab2");
  await reloaded.flush();
  const ids = server.events().map((e) => e.payload.properties?.__sessionId);
  assert.equal(ids.length, 3);
  assert.equal(new Set(ids).size, 1);
});

test("profile changes neither carry nor extend the session", async () => {
  const { make, server, clock } = rig();
  const client = make();
  await client.track("a");
  for (let i = 0; i < 10; i += 1) {
    clock.advance(10 * MIN);
    await client.increment({ profileId: "u", property: "x" });
  }
  await client.track("b");
  await client.flush();
  const tracks = server.events().filter((e) => e.type === "track");
  assert.notEqual(tracks[0]?.payload.properties?.__sessionId, tracks[1]?.payload.properties?.__sessionId);
  assert.ok(server.events().filter((e) => e.type === "increment").every((e) => e.payload.properties === undefined));
});

test("a session id is 1 to 128 printable characters (contract §6.2 rule 0)", async () => {
  const [id] = await sessions([START]);
  assert.ok(id && id.length >= 1 && id.length <= 128 && /^[\x21-\x7e]+$/.test(id));
});
