// Flushing: what the requests hold and how each answer changes the buffer (docs/offline-clients.md, "What
// each answer does"), the bounded buffer and its dropped-events count.

import assert from "node:assert/strict";
import { test } from "node:test";
import { CLIENT_ID, names, rig, START } from "./helpers.js";

test("batches hold at most 2000 events, oldest first", async () => {
  const { make, server } = rig();
  const client = make();
  for (let i = 0; i < 4500; i += 1) void client.track(`e${i}`);
  const result = await client.flush();
  assert.deepEqual(server.requests.map((r) => r.body.events.length), [2000, 2000, 500]);
  assert.deepEqual(names(server.events()), Array.from({ length: 4500 }, (_, i) => `e${i}`));
  assert.deepEqual(result, { sent: 4500, accepted: 4500, rejected: 0, remaining: 0 });
  assert.equal(await client.pending(), 0);
});

test("a request is gzip JSON with sentAt, the credentials and the SDK's name", async () => {
  const { make, server, clock } = rig();
  const client = make({ clientSecret: "s3cret", gzip: undefined }); // the default
  await client.track("a");
  clock.now = START + 90_000;
  await client.flush();
  const [request] = server.requests;
  assert.ok(request);
  assert.equal(request.url, "https://spool.test/track/batch");
  assert.equal(request.gzip, true);
  assert.equal(request.headers["Content-Encoding"], "gzip");
  assert.equal(request.headers["Content-Type"], "application/json");
  assert.equal(request.headers["openpanel-client-id"], CLIENT_ID);
  assert.equal(request.headers["openpanel-client-secret"], "s3cret");
  assert.equal(request.headers["openpanel-sdk-name"], "spool-offline");
  assert.equal(request.headers["User-Agent"], undefined, "a browser sends its own");
  assert.equal(request.body.sentAt, "2030-01-01T12:01:30.000Z", "the clock when the request leaves");
  assert.ok(request.text.startsWith('{"sentAt":"2030-01-01T12:01:30.000Z","events":[{'));
});

test("without a secret there is no secret header (a page is authenticated by its Origin); gzip can be turned off", async () => {
  const { make, server } = rig();
  const client = make({ gzip: false, userAgent: "FieldApp/2.3 (Android 14; Pixel 8)" });
  await client.track("a");
  await client.flush();
  const [request] = server.requests;
  assert.equal(request?.headers["openpanel-client-secret"], undefined);
  assert.equal(request?.gzip, false);
  assert.equal(request?.headers["Content-Encoding"], undefined);
  assert.equal(request?.headers["User-Agent"], "FieldApp/2.3 (Android 14; Pixel 8)");
});

test("the api url may end in a slash or /api", async () => {
  for (const [apiUrl, url] of [["https://h.test/", "https://h.test/track/batch"], ["https://h.test/api//", "https://h.test/api/track/batch"]]) {
    const { make, server } = rig();
    const client = make({ apiUrl });
    await client.track("a");
    await client.flush();
    assert.equal(server.requests[0]?.url, url);
  }
});

test("batches stay under the body limit", async () => {
  const { make, server } = rig();
  const client = make({ limits: { batchBytes: 4096 } });
  for (let i = 0; i < 40; i += 1) await client.track(`e${i}`, { pad: "x".repeat(200) });
  await client.flush();
  assert.ok(server.requests.length > 1);
  for (const request of server.requests) assert.ok(Buffer.byteLength(request.text) <= 4096, `${Buffer.byteLength(request.text)} bytes`);
  assert.equal(server.stored.size, 40);
});

test("an event over 64 KiB is dead-lettered without being sent, and the rest goes on", async () => {
  const { make, server } = rig();
  const client = make();
  await client.track("small");
  await client.track("huge", { blob: "x".repeat(70_000) });
  await client.track("after");
  const result = await client.flush();
  assert.deepEqual(names(server.events()), ["small", "after"]);
  assert.equal(result.rejected, 1);
  const [dead] = await client.deadLetters();
  assert.equal(dead?.code, "too_large");
  assert.ok(dead?.body.includes('"huge"'));
  assert.equal(await client.pending(), 0);
});

test("on 413 the batch is split in halves, in order, until it fits; one row alone answered 413 is dead-lettered", async () => {
  const { make, server } = rig();
  const client = make();
  for (let i = 0; i < 8; i += 1) await client.track(`e${i}`, i === 5 ? { big: true } : {});
  server.answer = (request) => {
    const hasBig = request.text.includes('"big":true');
    if (request.body.events.length > 2 || hasBig) return { status: 413, body: { error: "payload_too_large", message: "too big" } };
    return {};
  };
  const result = await client.flush();
  assert.deepEqual(server.requests.map((r) => r.body.events.length), [8, 4, 2, 2, 4, 2, 1, 1, 2]);
  assert.deepEqual(server.storedNames(), ["e0", "e1", "e2", "e3", "e4", "e6", "e7"]);
  assert.equal(result.rejected, 1);
  const [dead] = await client.deadLetters();
  assert.equal(dead?.code, "payload_too_large");
  assert.match(dead?.error ?? "", /^413 payload_too_large: too big/);
});

test("a 400 for the whole request splits, but a single row answered 400 stays and is never dead-lettered", async () => {
  const { make, server } = rig();
  const client = make();
  for (let i = 0; i < 4; i += 1) await client.track(`e${i}`);
  server.answer = () => ({ status: 400, body: { error: "invalid_batch", message: "nope" } });
  const result = await client.flush();
  assert.deepEqual(server.requests.map((r) => r.body.events.length), [4, 2, 1]);
  assert.equal(result.error, "400 invalid_batch: nope");
  assert.ok((result.retryAfterMs ?? 0) >= 1000);
  assert.equal(await client.pending(), 4);
  assert.deepEqual(await client.deadLetters(), []);
});

test("202: accepted rows go, `validation` ones become dead letters with their code, `internal` ones stay and go again the same", async () => {
  const { make, server, clock } = rig();
  const client = make();
  await client.track("good");
  await client.track("");
  await client.track("flaky");
  await client.track("nocode");
  server.answer = (request) => {
    server.store(request, new Set([1, 2, 3]));
    return {
      body: {
        accepted: 1,
        rejected: [
          { index: 1, reason: "validation", code: "invalid_field", error: "payload.name: this field may not be blank" },
          { index: 2, reason: "internal", code: "queue_unavailable", error: "retry this event" },
          { index: 3, reason: "validation", error: "no code here" },
        ],
      },
    };
  };
  const first = await client.flush();
  assert.deepEqual([first.sent, first.accepted, first.rejected, first.remaining], [4, 1, 2, 1]);
  assert.match(first.error ?? "", /failed on 1 rows.*retry this event/);
  const dead = await client.deadLetters();
  assert.deepEqual(dead.map((d) => [d.code, d.error]), [["validation", "no code here"], ["invalid_field", "payload.name: this field may not be blank"]]);
  assert.ok(dead.every((d) => d.at === "2030-01-01T12:00:00.000Z"));
  const flakyBefore = server.requests[0]?.body.events[2];
  server.answer = () => ({});
  clock.advance(first.retryAfterMs ?? 0);
  await client.flush();
  assert.deepEqual(server.requests[1]?.body.events, [flakyBefore], "the same envelope, ids and time");
  assert.deepEqual(server.storedNames(), ["flaky", "good"]);
  assert.equal(await client.pending(), 0);
});

test("a row the server keeps failing on becomes a dead letter after maxAttempts, so it cannot slow the buffer forever", async () => {
  const { make, server, clock } = rig();
  const client = make({ maxAttempts: 3 });
  await client.track("poison");
  server.answer = () => ({ body: { accepted: 0, rejected: [{ index: 0, reason: "internal", code: "internal_error", error: "boom" }] } });
  for (let i = 0; i < 3; i += 1) {
    const result = await client.flush();
    clock.advance(result.retryAfterMs ?? 0);
  }
  assert.equal(server.requests.length, 3);
  assert.equal(await client.pending(), 0);
  const [dead] = await client.deadLetters();
  assert.equal(dead?.code, "internal_error");
  assert.match(dead?.error ?? "", /boom \(the server failed on it 3 times; given up\)/);
});

test("a reason the client does not know keeps the row", async () => {
  const { make, server } = rig();
  const client = make();
  await client.track("a");
  server.answer = () => ({ body: { accepted: 0, rejected: [{ index: 0, reason: "later", error: "x" }] } });
  await client.flush();
  assert.equal(await client.pending(), 1);
  assert.deepEqual(await client.deadLetters(), []);
});

test("a 2xx that is not a batch answer keeps everything and backs off", async () => {
  for (const body of ["", "<html>ok</html>", "[]", '{"ok":true}', '{"accepted":"2"}']) {
    const { make, server } = rig();
    const client = make();
    await client.track("a");
    server.answer = () => ({ status: 200, body });
    const result = await client.flush();
    assert.equal(await client.pending(), 1, body);
    assert.ok((result.retryAfterMs ?? 0) >= 1000, body);
    assert.match(result.error ?? "", /not (JSON|a JSON object|a batch answer)/, body);
  }
});

test("an answer that takes the client for a crawler stops and keeps everything", async () => {
  const { make, server } = rig();
  const client = make();
  await client.track("a");
  server.answer = () => ({ body: { bot: { name: "Googlebot" } } });
  const result = await client.flush();
  assert.equal(result.stopped, true);
  assert.match(result.error ?? "", /crawler/);
  assert.equal(await client.pending(), 1);
});

test("the server's clock correction is kept for status; a good answer clears the last error", async () => {
  const { make, server, clock } = rig();
  const client = make();
  await client.track("a");
  server.answer = () => ({ status: 500, body: { error: "internal", message: "boom" } });
  const failed = await client.flush();
  assert.equal((await client.status()).lastError, "500 internal: boom");
  clock.advance(failed.retryAfterMs ?? 0);
  server.answer = () => ({ body: { accepted: 1, rejected: [], clockSkewMs: -172_800_000 } });
  await client.flush();
  const status = await client.status();
  assert.equal(status.clockSkewMs, -172_800_000);
  assert.equal(status.lastError, null);
  assert.equal(status.lastSentAt, "2030-01-01T12:00:01.000Z");
});

test("profile changes go in requests of their own, at most 100, in the order they were made", async () => {
  const { make, server } = rig();
  const client = make();
  await client.track("e0");
  for (let i = 0; i < 150; i += 1) await client.increment({ profileId: "u", property: `p${i}` });
  await client.track("e1");
  await client.identify({ profileId: "u", firstName: "last" });
  await client.flush();
  const shapes = server.requests.map((r) => [...new Set(r.body.events.map((e) => e.type))].join("+") + ` ${r.body.events.length}`);
  assert.deepEqual(shapes, ["track 2", "increment 100", "increment+identify 51"]); // each request takes from one stream only
  assert.deepEqual(server.changes.map((e) => e.payload.property ?? e.payload.firstName), [...Array.from({ length: 150 }, (_, i) => `p${i}`), "last"]);
});

test("a split keeps the order of profile changes", async () => {
  const { make, server } = rig();
  const client = make();
  for (let i = 0; i < 8; i += 1) await client.increment({ profileId: "u", property: `p${i}` });
  server.answer = (request) => (request.body.events.length > 3 ? { status: 413, body: { error: "payload_too_large" } } : {});
  await client.flush();
  assert.deepEqual(server.changes.map((e) => e.payload.property), Array.from({ length: 8 }, (_, i) => `p${i}`));
});

test("maxBatches bounds one flush; rows recorded during a flush wait for the next", async () => {
  const { make, server } = rig();
  const client = make();
  for (let i = 0; i < 2500; i += 1) void client.track(`e${i}`);
  const first = await client.flush({ maxBatches: 1 });
  assert.equal(first.sent, 2000);
  assert.equal(first.remaining, 500);
  server.answer = () => {
    void client.track("during");
    return {};
  };
  await client.flush();
  assert.equal(await client.pending(), 1, "the event recorded while the request was out waits");
  server.answer = () => ({});
  await client.flush();
  assert.equal(server.stored.size, 2501);
});

test("past maxBufferEvents the oldest events are dropped and counted, and the count rides on the next batch's first event", async () => {
  const { make, server } = rig();
  const client = make({ maxBufferEvents: 5 });
  await client.identify({ profileId: "u", firstName: "kept" });
  for (let i = 0; i < 10; i += 1) await client.track(`e${i}`);
  assert.equal(await client.pending(), 5);
  const status = await client.status();
  assert.equal(status.droppedEvents, 6);
  assert.equal(status.droppedUnreported, 6);
  await client.flush();
  assert.deepEqual(names(server.events()), ["identify", "e6", "e7", "e8", "e9"], "profile changes are kept while there are events to drop");
  const first = server.requests[1]?.body.events[0];
  assert.equal(first?.payload.properties?.spool_dropped_events, 6);
  assert.equal(server.requests[1]?.body.events[1]?.payload.properties?.spool_dropped_events, undefined);
  const after = await client.status();
  assert.equal(after.droppedUnreported, 0);
  assert.equal(after.droppedEvents, 6);
  await client.track("later");
  await client.flush();
  assert.equal(server.requests[2]?.body.events[0]?.payload.properties?.spool_dropped_events, undefined, "told once");
});

test("when only profile changes are left, the oldest change goes", async () => {
  const { make, server } = rig();
  const client = make({ maxBufferEvents: 3 });
  for (let i = 0; i < 5; i += 1) await client.increment({ profileId: "u", property: `p${i}` });
  await client.flush();
  assert.deepEqual(server.changes.map((e) => e.payload.property), ["p2", "p3", "p4"]);
});

test("the byte bound drops the oldest events too", async () => {
  const { make, server } = rig();
  const client = make({ maxBufferBytes: 2_000 });
  for (let i = 0; i < 20; i += 1) await client.track(`e${i}`, { pad: "x".repeat(200) });
  const status = await client.status();
  assert.ok(status.bytes <= 2_000, `${status.bytes}`);
  assert.ok(status.droppedEvents > 0);
  await client.flush();
  assert.equal(server.stored.size + status.droppedEvents, 20);
  assert.ok(server.storedNames().includes("e19"), "the newest stays");
});

test("the dropped count is told again when its event was refused or kept", async () => {
  const { make, server, clock } = rig();
  const client = make({ maxBufferEvents: 2 });
  for (let i = 0; i < 4; i += 1) await client.track(`e${i}`);
  server.answer = () => ({ body: { accepted: 1, rejected: [{ index: 0, reason: "internal", error: "x" }] } });
  const result = await client.flush();
  assert.equal((await client.status()).droppedUnreported, 2);
  server.answer = () => ({});
  clock.advance(result.retryAfterMs ?? 0);
  await client.flush();
  assert.equal(server.requests[1]?.body.events[0]?.payload.properties?.spool_dropped_events, 2);
  assert.equal((await client.status()).droppedUnreported, 0);
});

test("the newest dead letters are kept, up to maxDeadLetters", async () => {
  const { make, server } = rig();
  const client = make({ maxDeadLetters: 3 });
  for (let i = 0; i < 5; i += 1) await client.track(`bad${i}`);
  server.answer = (request) => ({ body: { accepted: 0, rejected: request.body.events.map((_, index) => ({ index, reason: "validation", code: "too_old", error: "old" })) } });
  await client.flush();
  const dead = await client.deadLetters();
  assert.deepEqual(dead.map((d) => JSON.parse(d.body).payload.name), ["bad4", "bad3", "bad2"]);
  assert.equal((await client.status()).deadLetters, 3);
});
