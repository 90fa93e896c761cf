// The storage interface, held to one contract by every adapter (memory, AsyncStorage with and without its
// multi* calls, IndexedDB through fake-indexeddb); and AsyncStorage's commit cut at every write.

import assert from "node:assert/strict";
import { test } from "node:test";
import "fake-indexeddb/auto";
import { IDBFactory } from "fake-indexeddb";
import { asyncStorage } from "../src/storage/asyncstorage.js";
import { indexedDBStorage } from "../src/storage/indexeddb.js";
import { memoryStorage } from "../src/storage/memory.js";
import type { SpoolStorage } from "../src/storage/types.js";
import { FakeAsyncStorage } from "./fake-asyncstorage.js";

const adapters: [string, () => SpoolStorage][] = [
  ["memory", () => memoryStorage()],
  ["asyncStorage", () => asyncStorage(new FakeAsyncStorage())],
  ["asyncStorage without multi*", () => asyncStorage(new FakeAsyncStorage(new Map(), false))],
  ["indexedDB", () => indexedDBStorage({ indexedDB: new IDBFactory() })],
];

for (const [name, make] of adapters) {
  test(`${name}: get, put, delete and list in key order`, async () => {
    const storage = make();
    await storage.transaction("readwrite", async (tx) => {
      for (const key of [5, 1, 3, 10, 7]) await tx.put("events", key, { n: key });
      await tx.put("dead", 3, { other: true });
    });
    const seen = await storage.transaction("readonly", async (tx) => ({
      all: (await tx.list("events", { limit: 10 })).map((e) => e.key),
      after3: (await tx.list("events", { after: 3, limit: 2 })).map((e) => e.key),
      newest: (await tx.list("events", { limit: 2, reverse: true })).map((e) => e.key),
      below7: (await tx.list("events", { after: 7, limit: 10, reverse: true })).map((e) => e.key),
      below6: (await tx.list("events", { after: 6, limit: 10, reverse: true })).map((e) => e.key),
      value: await tx.get("events", 7),
      missing: await tx.get("events", 2),
      dead: (await tx.list("dead", { limit: 10 })).map((e) => e.value),
    }));
    assert.deepEqual(seen, {
      all: [1, 3, 5, 7, 10],
      after3: [5, 7],
      newest: [10, 7],
      below7: [5, 3, 1],
      below6: [5, 3, 1],
      value: { n: 7 },
      missing: undefined,
      dead: [{ other: true }],
    });
    await storage.transaction("readwrite", async (tx) => {
      await tx.delete("events", 3);
      await tx.put("events", 5, { n: 55 });
    });
    const after = await storage.transaction("readonly", (tx) => tx.list("events", { limit: 10 }));
    assert.deepEqual(after, [{ key: 1, value: { n: 1 } }, { key: 5, value: { n: 55 } }, { key: 7, value: { n: 7 } }, { key: 10, value: { n: 10 } }]);
  });

  test(`${name}: a transaction sees its own writes`, async () => {
    const storage = make();
    await storage.transaction("readwrite", async (tx) => {
      for (const key of [1, 2, 3]) await tx.put("changes", key, { n: key });
    });
    const seen = await storage.transaction("readwrite", async (tx) => {
      await tx.delete("changes", 1);
      await tx.put("changes", 4, { n: 4 });
      await tx.put("changes", 2, { n: 22 });
      return { list: await tx.list("changes", { limit: 2 }), gone: await tx.get("changes", 1), changed: await tx.get("changes", 2) };
    });
    assert.deepEqual(seen, { list: [{ key: 2, value: { n: 22 } }, { key: 3, value: { n: 3 } }], gone: undefined, changed: { n: 22 } });
  });

  test(`${name}: a transaction that throws commits nothing`, async () => {
    const storage = make();
    await storage.transaction("readwrite", (tx) => tx.put("meta", 0, { count: 1 }));
    await assert.rejects(
      storage.transaction("readwrite", async (tx) => {
        await tx.put("meta", 0, { count: 2 });
        await tx.put("events", 1, { n: 1 });
        throw new Error("the work failed");
      }),
      /the work failed/,
    );
    const state = await storage.transaction("readonly", async (tx) => [await tx.get("meta", 0), await tx.list("events", { limit: 5 })]);
    assert.deepEqual(state, [{ count: 1 }, []]);
  });

  test(`${name}: transactions do not interleave (no lost update)`, async () => {
    const storage = make();
    await storage.transaction("readwrite", (tx) => tx.put("meta", 0, { count: 0 }));
    const bump = () =>
      storage.transaction("readwrite", async (tx) => {
        const found = await tx.get("meta", 0);
        await tx.put("meta", 0, { count: Number(found?.count) + 1 });
      });
    await Promise.all(Array.from({ length: 20 }, bump));
    assert.deepEqual(await storage.transaction("readonly", (tx) => tx.get("meta", 0)), { count: 20 });
  });

  test(`${name}: a stored value is a copy`, async () => {
    const storage = make();
    const value = { list: [1] };
    await storage.transaction("readwrite", (tx) => tx.put("meta", 0, value));
    value.list.push(2);
    const read = await storage.transaction("readonly", (tx) => tx.get("meta", 0));
    assert.deepEqual(read, { list: [1] });
  });

  test(`${name}: a readonly transaction cannot write`, async () => {
    const storage = make();
    await assert.rejects(storage.transaction("readonly", (tx) => tx.put("meta", 0, { x: 1 })));
  });
}

test("indexedDB: a transaction whose work awaits something else fails instead of committing half", async () => {
  const storage = indexedDBStorage({ indexedDB: new IDBFactory() });
  await assert.rejects(
    storage.transaction("readwrite", async (tx) => {
      await tx.put("meta", 0, { a: 1 });
      await new Promise((resolve) => setTimeout(resolve, 5)); // the transaction commits meanwhile
      await tx.put("meta", 1, { b: 2 });
    }),
  );
});

test("indexedDB: two handles on one database (two tabs) see each other's commits", async () => {
  const factory = new IDBFactory();
  const tabA = indexedDBStorage({ indexedDB: factory, name: "shared" });
  const tabB = indexedDBStorage({ indexedDB: factory, name: "shared" });
  await tabA.transaction("readwrite", (tx) => tx.put("events", 1, { from: "A" }));
  assert.deepEqual(await tabB.transaction("readonly", (tx) => tx.get("events", 1)), { from: "A" });
  assert.equal(tabA.name, "shared");
});

test("asyncStorage: a commit cut at any write leaves the old state or the new one, whole, once reopened", async () => {
  const old = { count: 1, rows: [1, 2, 3], dead: [] };
  const changed = { count: 2, rows: [3, 4], dead: [1] };
  let cuts = 0;
  for (let dieAfter = 0; ; dieAfter += 1) {
    const fake = new FakeAsyncStorage();
    const store = asyncStorage(fake);
    await store.transaction("readwrite", async (tx) => {
      await tx.put("meta", 0, { count: 1 });
      for (const key of [1, 2, 3]) await tx.put("events", key, { n: key });
    });
    fake.writes = 0;
    fake.dieAfter = dieAfter;
    await store
      .transaction("readwrite", async (tx) => {
        await tx.put("meta", 0, { count: 2 });
        await tx.delete("events", 1);
        await tx.delete("events", 2);
        await tx.put("events", 4, { n: 4 });
        await tx.put("dead", 1, { n: 1 });
      })
      .catch(() => undefined);
    if (!fake.died) break;
    cuts += 1;
    const reopened = asyncStorage(new FakeAsyncStorage(fake.data)); // the app started again
    const seen = await reopened.transaction("readonly", async (tx) => ({
      count: (await tx.get("meta", 0))?.count,
      rows: (await tx.list("events", { limit: 10 })).map((e) => e.key),
      dead: (await tx.list("dead", { limit: 10 })).map((e) => e.key),
    }));
    // Three values wait under temporary keys, then the journal (the fourth write) commits.
    assert.deepEqual(seen, dieAfter >= 4 ? changed : old, `cut after ${dieAfter} writes`);
    const left = [...fake.data.keys()].filter((key) => key.includes(":tmp:") || key.endsWith(":journal"));
    assert.deepEqual(left, [], `cut after ${dieAfter} writes: the reopen finished or forgot the commit`);
  }
  assert.equal(cuts, 13, "3 temporary values, the journal, 3 moves, 5 removes, the journal's removal");
});

test("asyncStorage: two prefixes are two buffers, and other keys of the app are left alone", async () => {
  const fake = new FakeAsyncStorage();
  fake.data.set("app:settings", "{}");
  const one = asyncStorage(fake, { prefix: "one" });
  const two = asyncStorage(fake, { prefix: "two" });
  await one.transaction("readwrite", (tx) => tx.put("events", 1, { n: 1 }));
  assert.deepEqual(await two.transaction("readonly", (tx) => tx.list("events", { limit: 5 })), []);
  assert.equal(fake.data.get("app:settings"), "{}");
  assert.notEqual(one.name, two.name);
  assert.throws(() => asyncStorage(fake, { prefix: "a:b" }), /prefix/);
});
