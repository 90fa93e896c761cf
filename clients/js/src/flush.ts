// One flush pass: the rows buffered when it starts, oldest first, in requests of up to 2000 events (or 100
// profile changes) under the body limit, each answer applied the moment it arrives (docs/offline-clients.md,
// "What each answer does"). Also the page-hidden send, which has to go out before the page is gone.

import { errorCode, errorText, readBatchAnswer, UnreadableAnswer } from "./answers.js";
import { jittered, retryAfterMs, type BackoffRule } from "./backoff.js";
import type { DurableBuffer, BufferState, Row, Settled, Stream } from "./buffer.js";
import { DROPPED_PROPERTY, isoMs, withProperty } from "./envelopes.js";
import { post, type Answer, type FetchLike, type Failure, type Timers } from "./transport.js";

/** Spool's limits (contract §1.1); lower them when a server's are lower. */
export interface Limits {
  batchEvents: number;
  batchChanges: number; // an increment whose answer is lost is sent again and counts twice: few ride together
  batchBytes: number; // the decompressed body
  eventBytes: number; // an event over it is refused by the server, so it is dead-lettered without being sent
  keepaliveBytes: number; // what a browser lets a keepalive request carry
}

export const DEFAULT_LIMITS: Limits = {
  batchEvents: 2000,
  batchChanges: 100,
  batchBytes: 10 * 1024 * 1024,
  eventBytes: 64 * 1024,
  keepaliveBytes: 64 * 1024,
};

// `{"sentAt":"+275760-09-13T00:00:00.000Z","events":[` and `]}` with room to spare.
const ENVELOPE_BYTES = 256;

export interface FlushConfig {
  url: string;
  headers: { [name: string]: string };
  limits: Limits;
  backoff: BackoffRule;
  retryAfterCapMs: number;
  timeoutMs: number;
  gzip: boolean;
}

export interface Platform {
  fetch: FetchLike;
  timers: Timers;
  clock: () => number;
  random: () => number;
}

/** One flush. `sent` rows got an answer, `accepted` were taken, `rejected` moved to the dead letters;
 * the rest stay and go again. `remaining` rows wait now. `retryAfterMs`: the pass stopped early and the
 * next try is worth it then. `error`: what stopped it. `stopped`: trying again cannot help (401, a
 * crawler UA); automatic flushing ends until an explicit flush() gets through. */
export interface FlushResult {
  sent: number;
  accepted: number;
  rejected: number;
  remaining: number;
  retryAfterMs?: number;
  error?: string;
  stopped?: boolean;
}

/** Ends a pass early: back off for `retryAfterMs`, or stop for good. */
class Stop {
  constructor(
    readonly error: string,
    readonly retryAfterMs?: number,
    readonly stopped = false,
  ) {}
}

interface Tally {
  sent: number;
  accepted: number;
  rejected: number;
}

export class Flusher {
  constructor(
    private readonly buffer: DurableBuffer,
    private readonly config: FlushConfig,
    private readonly platform: Platform,
    /** Rows being sent now (a pass, or a page-hidden send): never in two requests of this tab at once. */
    readonly inFlight: Set<number>,
  ) {}

  /** One pass, at most `maxBatches` requests (a request split after a 413 counts once). `keep()` is asked
   * before each request whether this tab still holds the flush lock. */
  async pass(maxBatches: number | undefined, keep: () => Promise<boolean>): Promise<FlushResult> {
    const tally: Tally = { sent: 0, accepted: 0, rejected: 0 };
    let stop: Stop | undefined;
    try {
      const state = await this.waitIfBackingOff();
      const upto = state.nextSeq - 1; // rows recorded during the pass wait for the next one
      const after: { [stream in Stream]: number } = { events: 0, changes: 0 };
      let batches = 0;
      while (maxBatches === undefined || batches < maxBatches) {
        const stream = await this.nextStream(after, upto);
        if (!stream) break;
        const { limits } = this.config;
        const rows = stream === "changes" ? limits.batchChanges : limits.batchEvents;
        const taken = await this.buffer.take(stream, after[stream], upto, { rows, bytes: limits.batchBytes - ENVELOPE_BYTES, rowBytes: limits.eventBytes }, this.inFlight);
        after[stream] = taken.last;
        if (taken.oversized.length) await this.deadLetterOversized(stream, taken.oversized, tally);
        if (!taken.rows.length) continue;
        batches += 1;
        if (!(await keep())) throw new Stop("another tab took the flush lock", 1_000);
        await this.deliver(stream, taken.rows, tally);
      }
    } catch (error) {
      if (!(error instanceof Stop)) throw error;
      stop = error;
    }
    const state = await this.buffer.state();
    const result: FlushResult = { ...tally, remaining: state.events + state.changes };
    if (stop?.retryAfterMs !== undefined) result.retryAfterMs = stop.retryAfterMs;
    if (stop) result.error = stop.error;
    if (stop?.stopped) result.stopped = true;
    return result;
  }

  /** The page is being hidden: send these events now, in one keepalive request that may outlive the page.
   * Its answer is applied if the page is still there to read it; if not, the rows are still buffered
   * and the next page sends them again (the server collapses them on their insert ids). Resolves with
   * the rows it settled. */
  sendBeforeHidden(rows: Row[]): Promise<Settled | undefined> {
    const sending = this.send(rows, rows.map((row) => row.body), true);
    return sending.then(async (answer) => {
      if (answer.kind !== "answer" || answer.status < 200 || answer.status >= 300) return undefined;
      try {
        return await this.apply("events", rows, answer, 0, { sent: 0, accepted: 0, rejected: 0 });
      } catch (error) {
        if (error instanceof Stop) return undefined; // kept rows: the backoff is recorded, the next pass waits
        throw error;
      }
    });
  }

  /** The stream whose next row is the oldest: the buffer drains in the order it was filled. */
  private async nextStream(after: { [stream in Stream]: number }, upto: number): Promise<Stream | undefined> {
    const events = await this.buffer.first("events", after.events, upto, this.inFlight);
    const changes = await this.buffer.first("changes", after.changes, upto, this.inFlight);
    if (events === undefined) return changes === undefined ? undefined : "changes";
    return changes !== undefined && changes < events ? "changes" : "events";
  }

  private async deadLetterOversized(stream: Stream, rows: Row[], tally: Tally): Promise<void> {
    const error = `event too large (more than ${this.config.limits.eventBytes} bytes); not sent`;
    const dead = rows.map((row) => ({ seq: row.seq, code: "too_large", error }));
    const settled = await this.buffer.settle(stream, { delete: [], dead, kept: [], droppedReported: 0, state: {} }, this.now());
    tally.rejected += settled.dead;
  }

  /** Send rows as one request and apply the answer; split them when the server says the request is too
   * big. Throws Stop when the pass must end. */
  private async deliver(stream: Stream, rows: Row[], tally: Tally): Promise<void> {
    const bodies = rows.map((row) => row.body);
    let carried = 0;
    if (stream === "events") {
      carried = (await this.buffer.state()).droppedUnreported;
      if (carried) bodies[0] = withProperty(bodies[0] as string, DROPPED_PROPERTY, carried);
    }
    const answer = await this.send(rows, bodies, false);
    if (answer.kind === "failure") throw await this.backOff(`network: ${answer.error}`);
    if (answer.status >= 200 && answer.status < 300) {
      await this.apply(stream, rows, answer, carried, tally);
      return;
    }
    const error = errorText(answer.status, answer.body);
    if ((answer.status === 400 || answer.status === 413) && rows.length > 1) {
      // Over the server's body or batch-size limit (which an operator may have lowered): halves, in
      // order, so that profile changes keep theirs.
      const half = Math.floor(rows.length / 2);
      await this.deliver(stream, rows.slice(0, half), tally);
      await this.deliver(stream, rows.slice(half), tally);
      return;
    }
    if (answer.status === 413) {
      // One row alone is over the limit: it can never be taken.
      const dead = [{ seq: (rows[0] as Row).seq, code: errorCode(answer.body, "payload_too_large"), error }];
      const settled = await this.buffer.settle(stream, { delete: [], dead, kept: [], droppedReported: 0, state: {} }, this.now());
      tally.rejected += settled.dead;
      return;
    }
    if (answer.status === 401) throw await this.stopForGood(`${error} (check clientId and clientSecret, or the project's allowed origins; everything is kept)`);
    let waited: number | undefined;
    if (answer.status === 429 || answer.status === 503) {
      waited = retryAfterMs(answer.retryAfter, answer.date, this.platform.clock(), this.config.retryAfterCapMs);
    }
    throw await this.backOff(error, waited);
  }

  /** The request: the rows' bytes as buffered, in an envelope with the device clock at this moment
   * (`sentAt`: the server corrects event times by the difference to its own, contract §5.1; a retry
   * carries a new one, and ids do not depend on it). `fetch` is called before anything asynchronous. */
  private send(rows: Row[], bodies: string[], keepalive: boolean): Promise<Answer | Failure> {
    const body = `{"sentAt":${JSON.stringify(this.now())},"events":[${bodies.join(",")}]}`;
    for (const row of rows) this.inFlight.add(row.seq);
    const request = { url: this.config.url, body, headers: this.config.headers, gzip: this.config.gzip, keepalive, timeoutMs: this.config.timeoutMs };
    return post(this.platform.fetch, request, this.platform.timers).finally(() => {
      for (const row of rows) this.inFlight.delete(row.seq);
    });
  }

  private async apply(stream: Stream, rows: Row[], answer: Answer, carried: number, tally: Tally): Promise<Settled> {
    let verdict;
    try {
      verdict = readBatchAnswer(answer.body, rows.length);
    } catch (error) {
      if (!(error instanceof UnreadableAnswer)) throw error;
      throw error.stop ? await this.stopForGood(error.message) : await this.backOff(error.message);
    }
    const seq = (index: number) => (rows[index] as Row).seq;
    const state: Partial<BufferState> = { lastSentAt: this.now(), failures: 0, retryAt: null, retryDelay: null };
    if (!verdict.kept.length) Object.assign(state, { lastError: null, lastErrorAt: null });
    if (verdict.clockSkewMs !== undefined) state.clockSkewMs = verdict.clockSkewMs;
    const accepted = verdict.accepted.map(seq);
    const settled = await this.buffer.settle(stream, {
      delete: accepted,
      dead: verdict.dead.map(({ index, code, error }) => ({ seq: seq(index), code, error })),
      kept: verdict.kept.map(({ index, code, error }) => ({ seq: seq(index), code, error })),
      droppedReported: carried && accepted.includes(seq(0)) ? carried : 0,
      state,
    }, this.now()); // prettier-ignore
    tally.sent += rows.length;
    tally.accepted += settled.deleted;
    tally.rejected += settled.dead;
    if (settled.kept) {
      const first = verdict.kept[0]?.error ?? "";
      throw await this.backOff(`the server failed on ${settled.kept} rows (kept, sent again later): ${first}`);
    }
    return settled;
  }

  /** Record a failed try and how long to wait before the next one, in the buffer, so that every tab on
   * it waits too. `Retry-After: 0` still waits the floor: it must not become a loop either. */
  private async backOff(error: string, asked?: number): Promise<Stop> {
    const now = this.platform.clock();
    let wait = 0;
    await this.buffer.update((state) => {
      const failures = state.failures + 1;
      wait = Math.max(asked ?? jittered(failures, this.config.backoff, this.platform.random), this.config.backoff.floorMs);
      return { failures, retryAt: now + wait, retryDelay: wait, lastError: error, lastErrorAt: isoMs(now) };
    });
    return new Stop(error, wait);
  }

  /** Before a pass: the wait set by the last failure, here or in another tab. A device clock that went
   * back must not stretch it: when the time left exceeds the delay, wait the delay from now. */
  private async waitIfBackingOff(): Promise<BufferState> {
    const state = await this.buffer.state();
    if (state.retryAt === null || state.retryDelay === null) return state;
    const now = this.platform.clock();
    let left = state.retryAt - now;
    if (left > state.retryDelay) {
      const delay = state.retryDelay;
      await this.buffer.update(() => ({ retryAt: now + delay }));
      left = delay;
    }
    if (left > 0) throw new Stop(state.lastError ?? "backing off", left);
    return state;
  }

  private async stopForGood(error: string): Promise<Stop> {
    const now = this.platform.clock();
    await this.buffer.update(() => ({ lastError: error, lastErrorAt: isoMs(now) }));
    return new Stop(error, undefined, true);
  }

  private now(): string {
    return isoMs(this.platform.clock());
  }
}
