// The page's lifecycle: a hidden page sends its waiting events in one keepalive request made at the event
// (an unloading page gets no later chance), profile changes wait for a flush whose answer is read, the
// network coming back drains, and React Native's AppState drains the ordinary way.

import assert from "node:assert/strict";
import { test } from "node:test";
import { appStatePage, browserPage, type AppStateLike } from "../src/page.js";
import { names, rig, settle } from "./helpers.js";

class FakeDocument extends EventTarget {
  visibilityState = "visible";
  hide(): void {
    this.visibilityState = "hidden";
    this.dispatchEvent(new Event("visibilitychange"));
  }
  show(): void {
    this.visibilityState = "visible";
    this.dispatchEvent(new Event("visibilitychange"));
  }
}

function browser() {
  const win = new EventTarget();
  const doc = new FakeDocument();
  const page = browserPage(win, doc);
  assert.ok(page);
  return { win, doc, page };
}

const LATER = 3_600_000; // a flush delay long enough that only the page's events send anything

test("a hidden page sends its events at once, in one keepalive request of at most 64 KiB; profile changes wait", async () => {
  const { make, server, clock } = rig();
  const { doc, win, page } = browser();
  const client = make({ page, autoFlush: true, flushDelayMs: LATER });
  await client.ready;
  for (let i = 0; i < 3; i += 1) await client.track(`e${i}`);
  await client.increment({ profileId: "u", property: "visits" });
  doc.hide();
  assert.equal(server.requests.length, 1, "fetch was called during the event, before anything asynchronous");
  const [request] = server.requests;
  assert.equal(request?.keepalive, true);
  assert.equal(request?.gzip, false, "compressing is asynchronous: a keepalive body goes as it is");
  assert.deepEqual(names(request?.body.events ?? []), ["e0", "e1", "e2"]);
  win.dispatchEvent(new Event("pagehide"));
  assert.equal(server.requests.length, 1, "pagehide after visibilitychange sends nothing twice");
  await settle();
  assert.equal(await client.pending(), 1, "the page lived on: the answer was applied; the increment waits");
  doc.show();
  clock.advance(0); // the flush it asks for is due at once
  await settle();
  assert.equal(server.requests.length, 2, "back in view: the rest is flushed");
  assert.equal(server.requests[1]?.keepalive, false);
  assert.deepEqual(names(server.requests[1]?.body.events ?? []), ["increment"]);
  assert.equal(await client.pending(), 0);
});

test("the keepalive request stays within 64 KiB; what does not fit waits for a flush", async () => {
  const { make, server } = rig();
  const { doc, page } = browser();
  const client = make({ page, autoFlush: true, flushDelayMs: LATER });
  await client.ready;
  for (let i = 0; i < 200; i += 1) await client.track(`e${i}`, { pad: "x".repeat(1000) });
  doc.hide();
  const [request] = server.requests;
  assert.ok(request);
  assert.ok(Buffer.byteLength(request.text) <= 64 * 1024, `${Buffer.byteLength(request.text)} bytes`);
  assert.ok(request.body.events.length > 40 && request.body.events.length < 200);
  assert.equal(request.body.events[0]?.payload.name, "e0", "oldest first");
  await settle();
  assert.equal(await client.pending(), 200 - request.body.events.length);
});

test("events recorded in an earlier page are in the hidden send too", async () => {
  const { make, server } = rig();
  const earlier = make();
  await earlier.track("from-the-last-visit");
  await earlier.close();
  const { doc, page } = browser();
  const client = make({ page, autoFlush: true, flushDelayMs: LATER });
  await client.ready; // its first flush is due (a timer), but the page is hidden first
  await client.track("now");
  doc.hide();
  assert.deepEqual(names(server.requests.flatMap((r) => r.body.events)), ["from-the-last-visit", "now"]);
});

test("the page closed before the keepalive answer: the next page sends the same events again, stored once", async () => {
  const { make, server } = rig();
  const { doc, page } = browser();
  const closing = make({ page, autoFlush: true, flushDelayMs: LATER });
  await closing.ready;
  await closing.track("a");
  await closing.track("b");
  server.answer = (request) => {
    server.store(request);
    return { fault: "hang" }; // the page is gone: nobody reads the answer
  };
  doc.hide();
  await settle();
  assert.equal(await closing.pending(), 2, "nothing is deleted without an answer");
  server.answer = () => ({});
  const next = make();
  await next.flush();
  assert.deepEqual(server.requests[1]?.body.events, server.requests[0]?.body.events);
  assert.equal(server.stored.size, 2);
  assert.equal(await next.pending(), 0);
});

test("a hidden page does not send while the server asked to wait", async () => {
  const { make, server } = rig();
  const { doc, page } = browser();
  const client = make({ page, autoFlush: true, flushDelayMs: LATER });
  await client.ready;
  await client.track("a");
  server.answer = () => ({ status: 429, headers: { "Retry-After": "600" }, body: { error: "quota" } });
  await client.flush();
  doc.hide();
  assert.equal(server.requests.length, 1);
});

test("the network coming back ends a wait set by a network failure, not one the server asked for", async () => {
  const { make, server, clock } = rig();
  const { win, page } = browser();
  const client = make({ page, autoFlush: true, flushDelayMs: LATER, random: () => 0.999 });
  await client.ready;
  await client.track("a");
  server.answer = () => ({ fault: "network" });
  for (let i = 0; i < 8; i += 1) {
    const result = await client.flush();
    clock.advance(result.retryAfterMs ?? 0);
  }
  await client.flush(); // now waiting over two minutes
  const before = server.requests.length;
  server.answer = () => ({});
  win.dispatchEvent(new Event("online"));
  await settle();
  clock.advance(0);
  await settle();
  assert.equal(server.requests.length, before + 1);
  assert.equal(await client.pending(), 0);

  await client.track("b");
  server.answer = () => ({ status: 429, headers: { "Retry-After": "600" }, body: { error: "quota" } });
  await client.flush();
  const asked = server.requests.length;
  win.dispatchEvent(new Event("online"));
  await settle();
  clock.advance(0);
  await settle();
  assert.equal(server.requests.length, asked, "a quota's wait is the server's");
});

test("what an earlier page left is sent when the next one opens", async () => {
  const { make, server, clock } = rig();
  const earlier = make();
  await earlier.track("left");
  await earlier.close();
  const next = make({ autoFlush: true });
  await next.ready;
  clock.advance(0);
  await settle();
  assert.deepEqual(server.storedNames(), ["left"]);
});

test("autoFlush: false listens to nothing", async () => {
  const { make, server } = rig();
  const { doc, win, page } = browser();
  const client = make({ page, autoFlush: false });
  await client.ready;
  await client.track("a");
  doc.hide();
  win.dispatchEvent(new Event("online"));
  await settle();
  assert.equal(server.requests.length, 0);
});

test("close() stops listening", async () => {
  const { make, server } = rig();
  const { doc, page } = browser();
  const client = make({ page, autoFlush: true, flushDelayMs: LATER });
  await client.ready;
  await client.track("a");
  await client.close();
  doc.hide();
  assert.equal(server.requests.length, 0);
});

test("browserPage is undefined outside a browser", () => {
  assert.equal(browserPage(undefined, undefined), undefined);
});

test("React Native: going to the background flushes as usual (profile changes too); coming back drains", async () => {
  const listeners: ((state: string) => void)[] = [];
  let removed = 0;
  const appState: AppStateLike = {
    addEventListener: (_type, listener) => {
      listeners.push(listener);
      return { remove: () => void (removed += 1) };
    },
  };
  const { make, server, clock } = rig();
  const client = make({ page: appStatePage(appState), autoFlush: true, flushDelayMs: LATER });
  await client.ready;
  await client.track("a");
  await client.increment({ profileId: "u", property: "x" });
  listeners.forEach((listener) => listener("background"));
  clock.advance(0);
  await settle();
  assert.deepEqual(server.requests.map((r) => [r.keepalive, names(r.body.events)]), [[false, ["a"]], [false, ["increment"]]]);
  await client.track("b");
  listeners.forEach((listener) => listener("active"));
  clock.advance(0);
  await settle();
  assert.equal(server.stored.size, 2);
  await client.close();
  assert.equal(removed, 1);
});
