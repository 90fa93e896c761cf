// Exactly once across a reload, a crash or a closed tab in the middle of a flush: rows are deleted only
// after an answer says what became of them, and a row sent again carries the same bytes, so the server
// (the fake one here collapses on device, name and insert id, as contract §6.3 does) stores it once.

import assert from "node:assert/strict";
import { test } from "node:test";
import { IDBFactory } from "fake-indexeddb";
import "fake-indexeddb/auto";
import { SpoolClient } from "../src/client.js";
import { asyncStorage } from "../src/storage/asyncstorage.js";
import { indexedDBStorage } from "../src/storage/indexeddb.js";
import { memoryStorage } from "../src/storage/memory.js";
import type { SpoolStorage } from "../src/storage/types.js";
import type { FetchLike, Timers } from "../src/transport.js";
import { CLIENT_ID, FakeClock, FakeServer, settle } from "./helpers.js";
import { FakeAsyncStorage } from "./fake-asyncstorage.js";

const NEVER: Timers = { setTimeout: () => 0, clearTimeout: () => undefined }; // a closed tab runs nothing more

/** A tab: a client on `storage` with the shared clock and server, or with its own fetch and timers. */
function tab(storage: SpoolStorage, clock: FakeClock, server: FakeServer, own: { fetch?: FetchLike; timers?: Timers } = {}): SpoolClient {
  return new SpoolClient({
    apiUrl: "https://spool.test",
    clientId: CLIENT_ID,
    storage,
    fetch: own.fetch ?? server.fetch,
    timers: own.timers ?? clock.timer,
    clock: clock.clock,
    random: () => 0.5,
    autoFlush: false,
    gzip: false,
    page: null,
    locks: null,
  });
}

/** A fetch that delivers the request (the server stores it) and then the tab is gone: no answer, ever. */
function deliveredThenClosed(server: FakeServer): FetchLike {
  return (url, init) => {
    void server.fetch(url, init);
    return new Promise(() => undefined);
  };
}

const eventsText = (text: string | undefined) => String(text).replace(/^\{"sentAt":"[^"]*",/, "");

const stores: [string, () => SpoolStorage][] = [
  ["memory", () => memoryStorage()],
  ["indexedDB", () => indexedDBStorage({ indexedDB: new IDBFactory() })],
];

for (const [kind, makeStorage] of stores) {
  test(`${kind}: a tab closed after its request left, before the answer: the next page sends the same bytes, stored once`, async () => {
    const clock = new FakeClock();
    const server = new FakeServer();
    const storage = makeStorage();
    const closed = tab(storage, clock, server, { fetch: deliveredThenClosed(server), timers: NEVER });
    for (let i = 0; i < 5; i += 1) await closed.track(`e${i}`);
    await closed.increment({ profileId: "u", property: "visits" });
    void closed.flush(); // never ends: the tab is gone, still holding its flush lease
    await settle();
    assert.equal(server.requests.length, 1);

    const next = tab(storage, clock, server);
    const busy = await next.flush();
    assert.equal(busy.error, "another tab is flushing this buffer", "the dead tab's lease holds until it expires");
    clock.advance(90_000); // the lease: the request timeout (60 s) and 30 s
    const result = await next.flush();
    assert.equal(result.accepted, 6);
    assert.equal(eventsText(server.requests[1]?.text), eventsText(server.requests[0]?.text), "the same bytes, ids and times");
    assert.equal(server.stored.size, 5, "each event stored once");
    assert.equal(await next.pending(), 0);
  });

  test(`${kind}: a crash while the answer is applied: nothing was deleted, and the restart sends it again, stored once`, async () => {
    const clock = new FakeClock();
    const server = new FakeServer();
    const inner = makeStorage();
    let crashNext = false;
    const crashing: SpoolStorage = {
      name: inner.name,
      transaction: (mode, work) =>
        inner.transaction(mode, async (tx) => {
          const result = await work(tx);
          if (mode === "readwrite" && crashNext) throw new Error("the process died before the commit");
          return result;
        }),
    };
    const first = tab(crashing, clock, server);
    for (let i = 0; i < 3; i += 1) await first.track(`e${i}`);
    server.answer = () => {
      crashNext = true; // the next write is the answer's settlement
      return {};
    };
    await assert.rejects(first.flush(), /the process died/);
    crashNext = false;
    server.answer = () => ({});
    clock.advance(90_000); // the lease the crashed run held (its release died too)
    const restarted = tab(inner, clock, server);
    assert.equal(await restarted.pending(), 3);
    await restarted.flush();
    assert.equal(server.requests.length, 2);
    assert.equal(eventsText(server.requests[1]?.text), eventsText(server.requests[0]?.text));
    assert.equal(server.stored.size, 3);
    assert.equal(await restarted.pending(), 0);
  });
}

test("asyncStorage: the app killed at every write of a flush loses nothing, and the server stores each event once", async () => {
  let cuts = 0;
  for (let dieAfter = 0; ; dieAfter += 1) {
    const clock = new FakeClock();
    const server = new FakeServer();
    const fake = new FakeAsyncStorage();
    const first = tab(asyncStorage(fake), clock, server);
    for (let i = 0; i < 4; i += 1) await first.track(`e${i}`);
    await first.identify({ profileId: "u", firstName: "Ada" });
    server.answer = (request) => (request.body.events[0]?.type === "identify" ? {} : { body: { accepted: 3, rejected: [{ index: 1, reason: "validation", code: "invalid_field", error: "bad" }] }, status: 202 });
    const storeAll = server.answer;
    server.answer = (request, index) => {
      const reply = storeAll(request, index);
      if (reply.body) server.store(request, new Set([1]));
      return reply;
    };
    fake.writes = 0;
    fake.dieAfter = dieAfter;
    await first.flush().catch(() => undefined);
    if (!fake.died) break;
    cuts += 1;
    clock.advance(90_000);
    const restarted = tab(asyncStorage(new FakeAsyncStorage(fake.data)), clock, server);
    await restarted.flush();
    assert.equal(await restarted.pending(), 0, `killed after ${dieAfter} writes`);
    assert.deepEqual(server.storedNames(), ["e0", "e2", "e3"], `killed after ${dieAfter} writes`);
    const dead = await restarted.deadLetters();
    assert.deepEqual(dead.map((d) => JSON.parse(d.body).payload.name), ["e1"], `killed after ${dieAfter} writes`);
    assert.ok(server.changes.length >= 1 && server.changes.every((c) => c.type === "identify"), "an identify sent twice is harmless");
  }
  assert.ok(cuts > 20, `${cuts} places to die`);
});
