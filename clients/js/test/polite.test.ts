// Waiting politely: Retry-After, exponential backoff with full jitter and its floor, the wait kept in the
// storage for every tab, 401, failures of the network, and one flush at a time per storage.

import assert from "node:assert/strict";
import { test } from "node:test";
import { jittered, retryAfterMs } from "../src/backoff.js";
import { DurableBuffer } from "../src/buffer.js";
import type { LockManagerLike } from "../src/lock.js";
import { BACKOFF } from "../src/options.js";
import { rig, settle, START, type FakeClock } from "./helpers.js";

/** Let the fake clock run `ms`, in steps, letting the promises of each step settle. */
async function run(clock: FakeClock, ms: number, step = 250): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await settle(4);
  }
}

test("backoff doubles from 1 s up to its 5-minute cap", () => {
  const highest = (failures: number) => jittered(failures, BACKOFF, () => 1);
  assert.deepEqual([1, 2, 3, 4, 9, 10, 50].map(highest), [1_000, 2_000, 4_000, 8_000, 256_000, 300_000, 300_000]);
});

test("full jitter spreads over the whole range, and never below the 1 s floor", () => {
  const draws = [0, 0.01, 0.25, 0.5, 0.99].map((r) => jittered(5, BACKOFF, () => r));
  assert.deepEqual(draws, [1_000, 1_000, 4_000, 8_000, 15_840]);
});

test("Retry-After: seconds, an HTTP date against the answer's Date, or nothing", () => {
  const now = START;
  const cases: [string | null, string | null, number | undefined][] = [
    ["7", null, 7_000],
    ["0", null, 0],
    ["2.5", null, 2_500],
    ["99999", null, 3_600_000], // capped at an hour
    ["Tue, 01 Jan 2030 12:00:30 GMT", null, 30_000],
    ["Tue, 01 Jan 2030 12:00:30 GMT", "Tue, 01 Jan 2030 12:00:20 GMT", 10_000], // the device clock is not asked
    ["Tue, 01 Jan 2030 11:00:00 GMT", null, 0],
    ["soon", null, undefined],
    ["", null, undefined],
    [null, null, undefined], // a browser hides the header cross-origin unless the server exposes it
  ];
  for (const [value, date, expected] of cases) assert.equal(retryAfterMs(value, date, now, 3_600_000), expected, String(value));
});

for (const status of [429, 503]) {
  test(`${status} keeps everything and waits as long as the server says`, async () => {
    const { make, server, clock } = rig();
    const client = make();
    await client.track("a");
    server.answer = () => ({ status, headers: { "Retry-After": "30" }, body: { error: "quota", message: "wait" } });
    const result = await client.flush();
    assert.equal(result.retryAfterMs, 30_000);
    assert.equal(await client.pending(), 1);
    clock.advance(29_000);
    const early = await client.flush();
    assert.equal(server.requests.length, 1, "no request before the wait is over");
    assert.equal(early.retryAfterMs, 1_000);
    server.answer = () => ({});
    clock.advance(1_000);
    await client.flush();
    assert.equal(server.requests.length, 2);
    assert.equal(await client.pending(), 0);
  });
}

test("Retry-After: 0 still waits the floor", async () => {
  const { make, server } = rig();
  const client = make();
  await client.track("a");
  server.answer = () => ({ status: 503, headers: { "Retry-After": "0" }, body: { error: "overloaded" } });
  assert.equal((await client.flush()).retryAfterMs, 1_000);
});

test("the wait is kept in the storage: another tab (or the next page) waits too", async () => {
  const { make, server, clock } = rig();
  const first = make();
  await first.track("a");
  server.answer = () => ({ status: 429, headers: { "Retry-After": "60" }, body: { error: "quota" } });
  await first.flush();
  await first.close();
  clock.advance(10_000);
  const next = make();
  const result = await next.flush();
  assert.equal(server.requests.length, 1);
  assert.equal(result.retryAfterMs, 50_000);
  assert.equal((await next.status()).retryAt, "2030-01-01T12:01:00.000Z");
});

test("5xx backs off exponentially, with jitter, up to the cap; a success starts over", async () => {
  const { make, server, clock } = rig();
  const client = make({ random: () => 0.999 });
  await client.track("a");
  server.answer = () => ({ status: 500, body: { error: "internal", message: "boom" } });
  const waits: number[] = [];
  for (let i = 0; i < 11; i += 1) {
    const result = await client.flush();
    waits.push(Math.round((result.retryAfterMs ?? 0) / 1000));
    clock.advance(result.retryAfterMs ?? 0);
  }
  assert.deepEqual(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
  server.answer = () => ({});
  await client.flush();
  await client.track("b");
  server.answer = () => ({ status: 502, body: "<html>bad gateway</html>" });
  const after = await client.flush();
  assert.equal(Math.round((after.retryAfterMs ?? 0) / 1000), 1);
  assert.equal(after.error, "502 <html>bad gateway</html>");
});

test("a device clock that jumps back does not stretch the wait", async () => {
  const { make, server, clock } = rig();
  const client = make();
  await client.track("a");
  server.answer = () => ({ status: 503, headers: { "Retry-After": "30" }, body: { error: "x" } });
  await client.flush();
  clock.now -= 3 * 24 * 3600_000; // three days back
  const result = await client.flush();
  assert.equal(result.retryAfterMs, 30_000, "the delay from now, not three days");
  clock.advance(30_000);
  server.answer = () => ({});
  await client.flush();
  assert.equal(await client.pending(), 0);
});

for (const fault of ["network", "cut", "hang"] as const) {
  test(`no answer (${fault}) keeps the rows, and the retry sends the same ids`, async () => {
    const { make, server, clock } = rig();
    const client = make({ timeoutMs: 10_000 });
    await client.track("a");
    await client.track("b");
    server.answer = () => ({ fault });
    const flushing = client.flush();
    await settle();
    clock.advance(10_000); // the request's timeout, for the one that hangs
    const result = await flushing;
    assert.match(result.error ?? "", fault === "hang" ? /network: no answer within 10000 ms/ : /^network: TypeError/);
    assert.equal(await client.pending(), 2);
    server.answer = () => ({});
    clock.advance(result.retryAfterMs ?? 0);
    await client.flush();
    assert.deepEqual(server.requests[1]?.body.events, server.requests[0]?.body.events);
    assert.notEqual(server.requests[1]?.body.sentAt, server.requests[0]?.body.sentAt, "a retry says when it left");
    assert.equal(server.stored.size, 2);
  });
}

test("401 keeps everything, stops the automatic flush and says why; an explicit flush tries again", async () => {
  const { make, server, clock } = rig();
  const client = make({ autoFlush: true, flushDelayMs: 100 });
  server.answer = () => ({ status: 401, body: { error: "unauthorized", message: "unknown client id" } });
  await client.track("a");
  await run(clock, 1_000);
  assert.equal(server.requests.length, 1);
  await client.track("b");
  await run(clock, 60_000);
  assert.equal(server.requests.length, 1, "nothing retries by itself after a 401");
  const status = await client.status();
  assert.match(status.lastError ?? "", /^401 unauthorized: unknown client id \(check clientId/);
  assert.equal(status.pending, 2);
  server.answer = () => ({});
  const result = await client.flush();
  assert.equal(result.accepted, 2);
  await client.track("c");
  await run(clock, 1_000);
  assert.equal(server.requests.length, 3, "the automatic flush is back after a flush got through");
});

test("the automatic flush against a failing server makes at most one try a second, and sends once it is back", async () => {
  for (const answer of [{ status: 500 }, { fault: "network" as const }, { status: 200, body: "{}" }, { status: 503, headers: { "Retry-After": "0" } }]) {
    const { make, server, clock, errors } = rig();
    const client = make({ autoFlush: true, random: () => 0 }); // every draw at 0: only the floor keeps it polite
    await client.track("a");
    server.answer = () => answer;
    await run(clock, 60_000);
    assert.ok(server.requests.length <= 61 && server.requests.length >= 30, `${server.requests.length} tries in 60 s (${JSON.stringify(answer)}) ${String(errors)}`);
    server.answer = () => ({});
    await run(clock, 2_000);
    assert.equal(server.stored.size, 1);
    assert.equal(await client.pending(), 0);
    const tries = server.requests.length;
    await run(clock, 60_000);
    assert.equal(server.requests.length, tries, "an empty buffer sends nothing");
    await client.close();
  }
});

test("a burst of record calls becomes one request", async () => {
  const { make, server, clock } = rig();
  const client = make({ autoFlush: true, flushDelayMs: 1_000 });
  for (let i = 0; i < 50; i += 1) {
    await client.track(`e${i}`);
    clock.advance(10);
  }
  await run(clock, 2_000);
  assert.equal(server.requests.length, 1);
  assert.equal(server.requests[0]?.body.events.length, 50);
});

test("two tabs flushing at once send each row once (the lease row)", async () => {
  const { make, server } = rig();
  const tabs = [make(), make()];
  for (let i = 0; i < 10; i += 1) await (tabs[i % 2] as (typeof tabs)[0]).track(`e${i}`);
  const results = await Promise.all([tabs[0]?.flush(), tabs[1]?.flush(), tabs[0]?.flush()]);
  assert.equal(server.events().length, 10);
  assert.equal(server.stored.size, 10);
  assert.ok(results.some((r) => r?.error === "another tab is flushing this buffer"));
});

test("the Web Locks API, where there is one, keeps one flush at a time", async () => {
  const held = new Set<string>();
  const requested: string[] = [];
  const locks: LockManagerLike = {
    async request(name, options, callback) {
      requested.push(name);
      if (held.has(name) && options.ifAvailable) return callback(null);
      held.add(name);
      try {
        return await callback({ name });
      } finally {
        held.delete(name);
      }
    },
  };
  const { make, server, storage } = rig();
  const tabs = [make({ locks }), make({ locks })];
  for (let i = 0; i < 4; i += 1) await tabs[0]?.track(`e${i}`);
  const results = await Promise.all(tabs.map((tab) => tab.flush()));
  assert.equal(server.events().length, 4);
  assert.deepEqual(results.map((r) => r.error), [undefined, "another tab is flushing this buffer"]);
  assert.ok(requested.every((name) => name === `spool-offline:flush:${storage.name}`));
});

test("a flush() while this tab flushes gets that flush's result, and no row goes twice", async () => {
  const { make, server } = rig();
  const client = make();
  for (let i = 0; i < 5; i += 1) await client.track(`e${i}`);
  const [a, b] = await Promise.all([client.flush(), client.flush()]);
  assert.equal(a, b);
  assert.equal(server.events().length, 5);
});

test("the lease: held by its owner until it ends; one set by a clock that went back counts as ended", async () => {
  const { storage } = rig();
  const buffer = new DurableBuffer(storage, 10, 10);
  await buffer.open(undefined, () => "device");
  const ttl = 90_000;
  assert.equal(await buffer.takeLease("A", START, ttl), undefined, "free: A takes it");
  assert.deepEqual(await buffer.takeLease("B", START + 1_000, ttl), { owner: "A", until: START + ttl });
  assert.equal(await buffer.takeLease("A", START + 2_000, ttl), undefined, "A renews it");
  assert.ok(await buffer.takeLease("B", START + 2_000 + ttl - 1, ttl), "until the renewed end");
  assert.equal(await buffer.takeLease("B", START + 2_000 + ttl, ttl), undefined, "ended: B takes it");
  await buffer.releaseLease("A");
  assert.ok(await buffer.takeLease("A", START + 2_000 + ttl, ttl), "A cannot release B's lease");
  await buffer.releaseLease("B");
  assert.equal(await buffer.takeLease("A", START, ttl), undefined);
  assert.equal(await buffer.takeLease("B", START - 5 * ttl, ttl), undefined, "the clock went back days: the lease ends");
});
