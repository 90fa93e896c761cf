// The client on IndexedDB (fake-indexeddb stands in for the browser's): the default store where there is
// one, kept across a reload, shared by two tabs that flush at once.

import assert from "node:assert/strict";
import { test } from "node:test";
import "fake-indexeddb/auto";
import { IDBFactory } from "fake-indexeddb";
import { SpoolClient } from "../src/client.js";
import { indexedDBStorage } from "../src/storage/indexeddb.js";
import { CLIENT_ID, FakeClock, FakeServer } from "./helpers.js";

function page(clock: FakeClock, server: FakeServer, factory: IDBFactory): SpoolClient {
  return new SpoolClient({
    apiUrl: "https://spool.test",
    clientId: CLIENT_ID,
    storage: indexedDBStorage({ indexedDB: factory }),
    fetch: server.fetch,
    clock: clock.clock,
    timers: clock.timer,
    autoFlush: false,
    gzip: false,
    page: null,
    locks: null,
  });
}

test("IndexedDB is the default store where there is one", async () => {
  const server = new FakeServer();
  const client = new SpoolClient({ apiUrl: "https://spool.test", clientId: CLIENT_ID, fetch: server.fetch, autoFlush: false, page: null, locks: null, gzip: false });
  await client.track("a");
  await client.flush();
  assert.deepEqual(server.storedNames(), ["a"]);
  const status = await client.status();
  assert.equal(status.deviceId, client.getDeviceId());
  await client.close();
});

test("a reload finds the buffer, the device and the session as they were", async () => {
  const clock = new FakeClock();
  const server = new FakeServer();
  const factory = new IDBFactory();
  const before = page(clock, server, factory);
  for (let i = 0; i < 25; i += 1) await before.track(`e${i}`);
  await before.identify({ profileId: "u", firstName: "Ada" });
  await before.close();
  const after = page(clock, server, factory);
  await after.ready;
  assert.equal(after.getDeviceId(), before.getDeviceId());
  assert.equal(after.getSessionId(), before.getSessionId());
  assert.equal(await after.pending(), 26);
  await after.flush();
  assert.equal(server.stored.size, 25);
  assert.equal(server.changes.length, 1);
  assert.equal(await after.pending(), 0);
});

test("two tabs on one database flushing at once send each row once", async () => {
  const clock = new FakeClock();
  const server = new FakeServer();
  const factory = new IDBFactory();
  const tabs = [page(clock, server, factory), page(clock, server, factory)];
  for (let i = 0; i < 300; i += 1) await (tabs[i % 2] as SpoolClient).track(`e${i}`);
  const results = await Promise.all(tabs.map((tab) => tab.flush()));
  assert.equal(server.events().length, 300, "no row went twice");
  assert.equal(server.stored.size, 300);
  assert.equal(results.filter((r) => r.error === "another tab is flushing this buffer").length, 1);
  const ids = new Set(server.events().map((e) => e.payload.properties?.__sessionId));
  assert.equal(ids.size, 1, "both tabs recorded into one session");
});
