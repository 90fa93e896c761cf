// What the tests drive the client with: a fake clock with its timers, a fake Spool behind a fake fetch
// (it reads gzip, stores events by their ids as the server's collapse does, and answers what a test says),
// and a client made with all of them.

import { gunzipSync } from "node:zlib";
import { SpoolClient } from "../src/client.js";
import type { SpoolOptions } from "../src/options.js";
import { memoryStorage } from "../src/storage/memory.js";
import type { FetchLike, ResponseLike, Timers } from "../src/transport.js";

/** 2030-01-01T12:00:00Z: a fixed start, so that no test depends on today's date. */
export const START = Date.UTC(2030, 0, 1, 12, 0, 0);
export const CLIENT_ID = "5b0c3e0e-6f1e-4f8e-9d59-3f1b8f3a2c11";

/** A clock that moves only when told, and the timers that go with it. */
export class FakeClock {
  now = START;
  private timers = new Map<number, { due: number; run: () => void }>();
  private next = 1;

  readonly clock = (): number => this.now;

  readonly timer: Timers = {
    setTimeout: (run, ms) => {
      const handle = this.next++;
      this.timers.set(handle, { due: this.now + Math.max(0, ms), run });
      return handle;
    },
    clearTimeout: (handle) => {
      this.timers.delete(handle as number);
    },
  };

  /** Move on `ms`, running each timer that falls due, in order, at its own time. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.due <= end).sort((a, b) => a[1].due - b[1].due)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.now = Math.max(this.now, due[1].due);
      due[1].run();
    }
    this.now = end;
  }

  pendingTimers(): number[] {
    return [...this.timers.values()].map((t) => t.due - this.now);
  }
}

export interface Sent {
  url: string;
  headers: { [name: string]: string };
  gzip: boolean;
  keepalive: boolean;
  text: string; // the decompressed body
  body: { sentAt?: string; events: Envelope[] };
}

export interface Envelope {
  type: string;
  payload: { [key: string]: unknown } & { properties?: { [key: string]: unknown } };
}

export interface Reply {
  status?: number;
  body?: unknown; // an object is sent as JSON, a string as it is
  headers?: { [name: string]: string };
  /** What goes wrong instead of an answer: the connection fails, it never answers, the body is cut. */
  fault?: "network" | "hang" | "cut";
}

/** A Spool that answers 202 to everything unless `answer` says otherwise, and keeps each stored event
 * once per (device, name, insert id): the server's collapse (contract §6.3). */
export class FakeServer {
  readonly requests: Sent[] = [];
  readonly stored = new Map<string, Envelope>();
  readonly changes: Envelope[] = [];
  answer: (request: Sent, index: number) => Reply = () => ({});

  readonly fetch: FetchLike = (url, init) => {
    const raw = init.body as string | Uint8Array;
    const gzip = typeof raw !== "string";
    const text = gzip ? gunzipSync(raw).toString("utf8") : raw;
    const headers = { ...(init.headers as { [name: string]: string }) };
    const sent: Sent = { url, headers, gzip, keepalive: init.keepalive === true, text, body: JSON.parse(text) as Sent["body"] };
    this.requests.push(sent);
    const reply = this.answer(sent, this.requests.length - 1);
    if (reply.fault === "network") return Promise.reject(new TypeError("Failed to fetch"));
    if (reply.fault === "hang") {
      return new Promise((_, reject) => init.signal?.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" }))));
    }
    const status = reply.status ?? 202;
    if (status >= 200 && status < 300 && reply.body === undefined) this.store(sent);
    const body = reply.body === undefined ? { accepted: sent.body.events.length, rejected: [] } : reply.body;
    const response: ResponseLike = {
      status,
      headers: { get: (name) => lower(reply.headers ?? {})[name.toLowerCase()] ?? null },
      text: () => (reply.fault === "cut" ? Promise.reject(new TypeError("network error: the body was cut")) : Promise.resolve(typeof body === "string" ? body : JSON.stringify(body))),
    };
    return Promise.resolve(response);
  };

  /** Store a request's events as the server would: once per id; profile changes in order. */
  store(sent: Sent, except: Set<number> = new Set()): void {
    sent.body.events.forEach((envelope, index) => {
      if (except.has(index)) return;
      if (envelope.type !== "track") return void this.changes.push(envelope);
      const p = envelope.payload.properties ?? {};
      this.stored.set(`${String(p.__deviceId)}|${String(envelope.payload.name)}|${String(p.__insertId)}`, envelope);
    });
  }

  events(): Envelope[] {
    return this.requests.flatMap((request) => request.body.events);
  }

  storedNames(): string[] {
    return [...this.stored.values()].map((envelope) => String(envelope.payload.name)).sort();
  }
}

function lower(headers: { [name: string]: string }): { [name: string]: string } {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

export interface Rig {
  clock: FakeClock;
  server: FakeServer;
  make(options?: Partial<SpoolOptions>): SpoolClient;
  storage: NonNullable<SpoolOptions["storage"]>;
  errors: unknown[]; // what automatic flushes reported
}

/** A clock, a server and a store, and clients made on them (two clients on one store are two tabs). */
export function rig(): Rig {
  const clock = new FakeClock();
  const server = new FakeServer();
  const storage = memoryStorage();
  const errors: unknown[] = [];
  return {
    clock,
    server,
    storage,
    errors,
    make: (options = {}) =>
      new SpoolClient({
        apiUrl: "https://spool.test",
        clientId: CLIENT_ID,
        storage,
        fetch: server.fetch,
        clock: clock.clock,
        timers: clock.timer,
        random: () => 0.5,
        autoFlush: false,
        gzip: false, // CompressionStream works on a thread: fake time must not run on while it does

        page: null,
        locks: null,
        onError: (error) => errors.push(error),
        ...options,
      }),
  };
}

/** Let promises run (the fake fetch answers in microtasks; storage commits too). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

export function names(envelopes: Envelope[]): string[] {
  return envelopes.map((envelope) => String(envelope.payload.name ?? envelope.type));
}
