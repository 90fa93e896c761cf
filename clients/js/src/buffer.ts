// The durable buffer on a SpoolStorage: the rows waiting to be sent, in two streams (events, profile
// changes) that share one sequence never reused, the dead letters, and the client's state. Each change is
// one storage transaction, so a crash leaves the buffer as it was before the change or after it.

import { utf8Length } from "./envelopes.js";
import type { Session } from "./session.js";
import type { Doc, SpoolStorage, StorageTx } from "./storage/types.js";

export type Stream = "events" | "changes";

export const FORMAT = 1;
const STATE_KEY = 0;
const LEASE_KEY = 1;
const PAGE = 500; // rows read per storage call while walking a stream

/** Meta key 0. Counts are kept in the same transactions as the rows: counting a stream of 100,000 rows on
 * every record call would cost more than the insert. */
export interface BufferState {
  format: number;
  nextSeq: number; // the next row's sequence number: an answer applies to rows by it, so none is reused
  deviceId: string;
  session: Session | null;
  events: number;
  changes: number;
  bytes: number; // UTF-8 bytes of every waiting row
  dead: number;
  droppedTotal: number; // dropped since the buffer was made, because it was full
  droppedUnreported: number; // of those, not yet told to the server
  failures: number; // failed tries in a row
  retryAt: number | null; // no try before this time (ms, device clock)...
  retryDelay: number | null; // ...which was this far from the moment it was set
  lastError: string | null;
  lastErrorAt: string | null;
  lastSentAt: string | null;
  clockSkewMs: number | null; // the server's last correction of this device's clock (contract §5.1)
}

export interface Row {
  seq: number;
  stream: Stream;
  kind: string; // the envelope's type
  body: string; // the envelope, exactly as it is sent
  size: number; // its UTF-8 bytes
  attempts: number; // answers `internal` so far
}

export interface DeadLetter {
  seq: number;
  stream: Stream;
  kind: string;
  body: string;
  code: string; // the server's rejection code (contract §4), or the client's own (`too_large`)
  error: string;
  at: string; // when, by the device clock
}

export interface Bounds {
  maxRows: number;
  maxBytes: number;
}

export interface Refusal {
  seq: number;
  code: string;
  error: string;
}

/** What one answer changes, applied in one transaction, by sequence number. */
export interface Settlement {
  delete: number[];
  dead: Refusal[];
  kept: Refusal[]; // the server failed on them: counted, and dead-lettered after maxAttempts
  droppedReported: number; // the dropped-events count that reached the server with this answer
  state: Partial<BufferState>;
}

export interface Settled {
  deleted: number;
  dead: number;
  kept: number;
}

export interface Take {
  rows: Row[];
  oversized: Row[];
  last: number; // the last sequence number looked at
}

export interface TakeLimits {
  rows: number;
  bytes: number; // of the rows, a comma after each
  rowBytes: number; // a row above it can never be sent
}

export interface Lease {
  owner: string;
  until: number;
}

export class DurableBuffer {
  constructor(
    readonly storage: SpoolStorage,
    private readonly maxDeadLetters: number,
    private readonly maxAttempts: number,
  ) {}

  /** The state, made on the first open; `deviceId` (the app's own) replaces the stored one. */
  open(deviceId: string | undefined, newId: () => string): Promise<BufferState> {
    return this.storage.transaction("readwrite", async (tx) => {
      const found = await readState(tx);
      if (found && found.format > FORMAT) throw new Error(`this buffer was written by a newer spool-offline (format ${found.format})`);
      const state = found ?? freshState(deviceId ?? newId());
      if (deviceId !== undefined) state.deviceId = deviceId;
      await writeState(tx, state);
      return state;
    });
  }

  state(): Promise<BufferState> {
    return this.storage.transaction("readonly", async (tx) => requireState(await readState(tx)));
  }

  /** Read-modify-write of the state, in one transaction. */
  update(change: (state: BufferState) => Partial<BufferState>): Promise<BufferState> {
    return this.storage.transaction("readwrite", async (tx) => {
      const state = requireState(await readState(tx));
      Object.assign(state, change(state));
      await writeState(tx, state);
      return state;
    });
  }

  /** Add a row made from the state (which `make` may change: the session); past the bounds, drop the
   * oldest events (profile changes only when no event is left) and count them. One transaction. */
  append(stream: Stream, kind: string, make: (state: BufferState) => string, bounds: Bounds): Promise<{ row: Row; dropped: number[] }> {
    return this.storage.transaction("readwrite", async (tx) => {
      const state = requireState(await readState(tx));
      const body = make(state);
      const row: Row = { seq: state.nextSeq, stream, kind, body, size: utf8Length(body), attempts: 0 };
      state.nextSeq += 1;
      await tx.put(stream, row.seq, rowDoc(row));
      state[stream] += 1;
      state.bytes += row.size;
      const dropped = await dropOldest(tx, state, bounds, row.seq);
      state.droppedTotal += dropped.length;
      state.droppedUnreported += dropped.length;
      await writeState(tx, state);
      return { row, dropped };
    });
  }

  /** The first row of a stream in (after, upto] that is not in `skip`. */
  async first(stream: Stream, after: number, upto: number, skip: ReadonlySet<number>): Promise<number | undefined> {
    const taken = await this.take(stream, after, upto, { rows: 1, bytes: Infinity, rowBytes: Infinity }, skip);
    return taken.rows[0]?.seq;
  }

  /** The next rows of a stream in (after, upto] that fit in one request, in order, leaving out `skip`
   * (rows in flight); and the rows met on the way that are too big ever to be sent. */
  take(stream: Stream, after: number, upto: number, limits: TakeLimits, skip: ReadonlySet<number>): Promise<Take> {
    return this.storage.transaction("readonly", async (tx) => {
      const taken: Take = { rows: [], oversized: [], last: after };
      let used = 0;
      const pageSize = Math.min(PAGE, limits.rows + skip.size); // first() needs one row, not a page
      for (;;) {
        const page = await tx.list(stream, { after: taken.last, limit: pageSize });
        for (const { key, value } of page) {
          if (key > upto) return taken;
          const row = readRow(stream, key, value);
          if (skip.has(key)) {
            taken.last = key;
            continue;
          }
          if (row.size > limits.rowBytes) taken.oversized.push(row);
          else if (taken.rows.length && used + row.size + 1 > limits.bytes) return taken;
          else {
            taken.rows.push(row);
            used += row.size + 1;
          }
          taken.last = key;
          if (taken.rows.length + taken.oversized.length >= limits.rows) return taken;
        }
        if (page.length < pageSize) return taken;
      }
    });
  }

  /** Apply one answer: delete what was taken, move refusals to the dead letters, count the rows the server
   * failed on. Rows already gone (another tab applied an answer for them first) are left alone. */
  settle(stream: Stream, settlement: Settlement, at: string): Promise<Settled> {
    return this.storage.transaction("readwrite", async (tx) => {
      const state = requireState(await readState(tx));
      const settled: Settled = { deleted: 0, dead: 0, kept: 0 };
      for (const seq of settlement.delete) {
        if (await removeRow(tx, state, stream, seq)) settled.deleted += 1;
      }
      const dead = [...settlement.dead];
      for (const kept of settlement.kept) {
        const found = await tx.get(stream, kept.seq);
        if (!found) continue;
        const row = readRow(stream, kept.seq, found);
        row.attempts += 1;
        if (row.attempts >= this.maxAttempts) {
          dead.push({ ...kept, error: `${kept.error} (the server failed on it ${row.attempts} times; given up)` });
        } else {
          await tx.put(stream, row.seq, { ...rowDoc(row), error: kept.error });
          settled.kept += 1;
        }
      }
      for (const refusal of dead) {
        const found = await tx.get(stream, refusal.seq);
        if (!found) continue;
        const row = readRow(stream, refusal.seq, found);
        await tx.put("dead", row.seq, { stream, kind: row.kind, body: row.body, code: refusal.code, error: refusal.error, at });
        await removeRow(tx, state, stream, row.seq);
        state.dead += 1;
        settled.dead += 1;
      }
      if (state.dead > this.maxDeadLetters) await trimDeadLetters(tx, state, state.dead - this.maxDeadLetters);
      state.droppedUnreported = Math.max(0, state.droppedUnreported - settlement.droppedReported);
      Object.assign(state, settlement.state);
      await writeState(tx, state);
      return settled;
    });
  }

  /** The newest dead letters first. */
  deadLetters(limit: number): Promise<DeadLetter[]> {
    return this.storage.transaction("readonly", async (tx) => {
      const entries = await tx.list("dead", { limit, reverse: true });
      return entries.map(({ key, value }) => ({
        seq: key,
        stream: value.stream as Stream,
        kind: String(value.kind),
        body: String(value.body),
        code: String(value.code),
        error: String(value.error),
        at: String(value.at),
      }));
    });
  }

  /** Take the flush lease for `ttlMs`, or renew it: false while another owner holds it. A lease that ends
   * further away than `ttlMs` was set by a clock that has since gone back: it counts as ended. */
  takeLease(owner: string, now: number, ttlMs: number): Promise<Lease | undefined> {
    return this.storage.transaction("readwrite", async (tx) => {
      const held = (await tx.get("meta", LEASE_KEY)) as unknown as Lease | undefined;
      const free = !held || held.owner === owner || now >= held.until || held.until - now > ttlMs;
      if (!free) return held;
      await tx.put("meta", LEASE_KEY, { owner, until: now + ttlMs });
      return undefined;
    });
  }

  releaseLease(owner: string): Promise<void> {
    return this.storage.transaction("readwrite", async (tx) => {
      const held = (await tx.get("meta", LEASE_KEY)) as unknown as Lease | undefined;
      if (held?.owner === owner) await tx.delete("meta", LEASE_KEY);
    });
  }
}

function freshState(deviceId: string): BufferState {
  return {
    format: FORMAT, nextSeq: 1, deviceId, session: null, events: 0, changes: 0, bytes: 0, dead: 0,
    droppedTotal: 0, droppedUnreported: 0, failures: 0, retryAt: null, retryDelay: null,
    lastError: null, lastErrorAt: null, lastSentAt: null, clockSkewMs: null,
  }; // prettier-ignore
}

async function readState(tx: StorageTx): Promise<BufferState | undefined> {
  return (await tx.get("meta", STATE_KEY)) as unknown as BufferState | undefined;
}

function requireState(state: BufferState | undefined): BufferState {
  if (!state) throw new Error("the buffer has no state: it was cleared while the client was open");
  return state;
}

function writeState(tx: StorageTx, state: BufferState): Promise<void> {
  return tx.put("meta", STATE_KEY, state as unknown as Doc);
}

function rowDoc(row: Row): Doc {
  return { kind: row.kind, body: row.body, size: row.size, attempts: row.attempts };
}

function readRow(stream: Stream, seq: number, value: Doc): Row {
  return { seq, stream, kind: String(value.kind), body: String(value.body), size: Number(value.size), attempts: Number(value.attempts ?? 0) };
}

async function removeRow(tx: StorageTx, state: BufferState, stream: Stream, seq: number): Promise<boolean> {
  const found = await tx.get(stream, seq);
  if (!found) return false;
  await tx.delete(stream, seq);
  state[stream] -= 1;
  state.bytes -= Number(found.size);
  return true;
}

/** Past the bounds, the oldest events go first: an event is one data point, a profile change is state. */
async function dropOldest(tx: StorageTx, state: BufferState, bounds: Bounds, keep: number): Promise<number[]> {
  const over = () => state.events + state.changes > bounds.maxRows || state.bytes > bounds.maxBytes;
  const dropped: number[] = [];
  for (const stream of ["events", "changes"] as const) {
    let after: number | undefined;
    while (over()) {
      const page = await tx.list(stream, { after, limit: Math.min(PAGE, Math.max(16, state.events + state.changes - bounds.maxRows)) });
      const victims = page.filter(({ key }) => key !== keep);
      if (!victims.length) break;
      for (const { key } of victims) {
        if (!over()) break;
        await removeRow(tx, state, stream, key);
        dropped.push(key);
      }
      after = page[page.length - 1]?.key;
    }
  }
  return dropped;
}

async function trimDeadLetters(tx: StorageTx, state: BufferState, count: number): Promise<void> {
  for (const { key } of await tx.list("dead", { limit: count })) {
    await tx.delete("dead", key);
    state.dead -= 1;
  }
}
