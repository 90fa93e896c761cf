// SpoolClient: the OpenPanel SDK's calls, each recorded into the durable buffer before its promise
// resolves, and the buffer drained to Spool's `POST /track/batch` exactly once (README.md says what the
// app sees; docs/offline-clients.md is the protocol).

import { DurableBuffer, type DeadLetter, type Row, type Stream } from "./buffer.js";
import { encode, isoMs, track, type Envelope, type ProfileId, type Properties } from "./envelopes.js";
import { Flusher, type FlushResult } from "./flush.js";
import { uuid4 } from "./ids.js";
import { leaseLock, webLock, type FlushLock } from "./lock.js";
import { Mirror } from "./mirror.js";
import { Mutex } from "./mutex.js";
import { readOptions, type Settings, type SpoolOptions } from "./options.js";
import { Scheduler } from "./scheduler.js";
import { sessionAt } from "./session.js";

/** `track`'s properties, as in the OpenPanel SDK: `profileId` and `groups` go to the payload. */
export interface TrackProperties {
  [key: string]: unknown;
  profileId?: ProfileId;
  groups?: string[];
}

export interface IdentifyPayload {
  profileId: ProfileId;
  firstName?: string;
  lastName?: string;
  email?: string;
  avatar?: string;
  properties?: Properties;
}

export interface IncrementPayload {
  profileId?: ProfileId; // the identified profile when left out
  property: string;
  value?: number;
}

export interface GroupPayload {
  id: string;
  type: string;
  name: string;
  properties?: Properties;
}

export interface Status {
  pending: number;
  events: number;
  changes: number;
  bytes: number;
  deadLetters: number;
  droppedEvents: number; // since the buffer was made, because it was full
  droppedUnreported: number; // of those, not yet told to the server
  lastError: string | null;
  lastErrorAt: string | null;
  lastSentAt: string | null;
  retryAt: string | null;
  clockSkewMs: number | null;
  deviceId: string;
  sessionId: string | null;
}

const FAILED_FLUSH_RETRY_MS = 30_000; // after a flush that threw (storage full, a bug): not a tight loop

export class SpoolClient {
  /** Resolves once the buffer is open (the device id read or made). Every call waits for it. */
  readonly ready: Promise<void>;
  private readonly settings: Settings;
  private readonly buffer: DurableBuffer;
  private readonly flusher: Flusher;
  private readonly lock: FlushLock;
  private readonly scheduler: Scheduler;
  private readonly mirror: Mirror;
  private readonly records = new Mutex(); // record calls reach the buffer in the order they were made
  private readonly owner = uuid4();
  private running: Promise<FlushResult> | undefined;
  private profileId: ProfileId | undefined;
  private groups: string[] = [];
  private global: Properties = {};
  private deviceId = "";
  private sessionId = "";
  private autoStopped = false; // after a 401: until an explicit flush() gets through
  private backingOffUntil = 0;
  private closed = false;
  private unlisten: (() => void) | undefined;

  constructor(options: SpoolOptions) {
    const settings = (this.settings = readOptions(options));
    this.buffer = new DurableBuffer(settings.storage, settings.maxDeadLetters, settings.maxAttempts);
    this.flusher = new Flusher(this.buffer, settings.flush, settings, new Set());
    const lockName = `spool-offline:flush:${settings.storage.name}`;
    // A lease outlives the longest request, so a tab that dies holding it frees the buffer after that.
    const leaseMs = settings.flush.timeoutMs + 30_000;
    this.lock = settings.locks ? webLock(settings.locks, lockName) : leaseLock(this.buffer, this.owner, settings.clock, leaseMs);
    this.scheduler = new Scheduler(settings.timers, settings.clock, () => this.autoFlush());
    this.mirror = new Mirror(settings.flush.limits.keepaliveBytes - 256);
    this.ready = this.open();
    this.ready.catch((error: unknown) => settings.onError(error)); // the calls reject with it too
  }

  private async open(): Promise<void> {
    const state = await this.buffer.open(this.settings.deviceId, uuid4);
    this.deviceId = state.deviceId;
    this.sessionId = state.session?.id ?? "";
    this.backingOffUntil = state.retryAt ?? 0;
    await this.refreshMirror();
    if (this.settings.page) {
      const page = this.settings.page;
      this.unlisten = page.listen({ hidden: () => this.onHidden(), visible: () => this.soon(0), online: () => this.onOnline() });
    }
    if (state.events + state.changes > 0) this.soon(0); // what an earlier page or run left
  }

  // Recording: each call resolves once its row is committed to the buffer.

  /** Buffer an event; resolves with its `__insertId` (undefined when `filter` left it out). Its time is
   * the device clock at this call. */
  track(name: string, properties: TrackProperties = {}): Promise<string | undefined> {
    const now = this.settings.clock();
    const { profileId, groups, ...rest } = properties;
    const merged: Properties = { ...this.global, ...rest };
    const allGroups = [...new Set([...this.groups, ...(groups ?? [])])];
    const who = profileId ?? this.profileId;
    const insertId = uuid4();
    const preview = track(name, merged, who, allGroups, { insertId, timestamp: isoMs(now), deviceId: this.deviceId, sessionId: this.sessionId });
    try {
      encode(preview); // NaN, a function, a cycle: refused at the call, nothing buffered
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.settings.filter && !this.settings.filter(preview)) return Promise.resolve(undefined);
    let sessionId = "";
    return this.record("events", "track", (state) => {
      state.session = sessionAt(state.session ?? undefined, now, this.settings.session, uuid4);
      sessionId = state.session.id;
      const ids = { insertId, timestamp: isoMs(now), deviceId: state.deviceId, sessionId };
      return encode(track(name, merged, who, allGroups, ids));
    }).then(() => {
      this.sessionId = sessionId; // once committed: a transaction that failed changed no session
      return String((merged.__insertId as string | undefined) ?? insertId);
    });
  }

  /** As the OpenPanel SDK: `track("revenue", { __revenue: amount })`. */
  revenue(amount: number, properties: TrackProperties & { deviceId?: string } = {}): Promise<string | undefined> {
    const { deviceId, ...rest } = properties;
    return this.track("revenue", { ...rest, ...(deviceId ? { __deviceId: deviceId } : {}), __revenue: amount });
  }

  /** Sets the profile of the events that follow; with more than a profile id, also buffers an identify
   * (with the global properties, as the OpenPanel SDK does). */
  identify(payload: IdentifyPayload): Promise<void> {
    if (payload.profileId !== undefined && payload.profileId !== null && payload.profileId !== "") this.profileId = payload.profileId;
    const given = Object.entries(payload).filter(([, value]) => value !== undefined);
    if (given.length <= 1) return Promise.resolve();
    const properties = { ...this.global, ...payload.properties };
    const body: Envelope["payload"] = { ...payload };
    if (Object.keys(properties).length) body.properties = properties;
    else delete body.properties;
    return this.change({ type: "identify", payload: body });
  }

  increment(payload: IncrementPayload): Promise<void> {
    return this.change({ type: "increment", payload: this.withProfile(payload) });
  }

  decrement(payload: IncrementPayload): Promise<void> {
    return this.change({ type: "decrement", payload: this.withProfile(payload) });
  }

  upsertGroup(payload: GroupPayload): Promise<void> {
    return this.change({ type: "group", payload: { ...payload } });
  }

  /** Adds the profile to a group; the events that follow carry it. */
  setGroup(groupId: string): Promise<void> {
    return this.setGroups([groupId]);
  }

  setGroups(groupIds: string[]): Promise<void> {
    this.groups = [...new Set([...this.groups, ...groupIds])];
    return this.change({ type: "assign_group", payload: this.withProfile<{ groupIds: string[]; profileId?: ProfileId }>({ groupIds }) });
  }

  /** Properties added to every event that follows (and to identify's), as in the OpenPanel SDK. */
  setGlobalProperties(properties: Properties): void {
    this.global = { ...this.global, ...properties };
  }

  /** Log out: forget the profile and the groups; the next event starts a new session. The device id
   * stays: it is the device. */
  clear(): void {
    this.profileId = undefined;
    this.groups = [];
    this.sessionId = "";
    void this.records.run(async () => {
      await this.ready;
      await this.buffer.update(() => ({ session: null }));
    }).catch((error: unknown) => this.settings.onError(error));
  }

  getDeviceId(): string {
    return this.deviceId;
  }

  getSessionId(): string {
    return this.sessionId;
  }

  private withProfile<T extends { profileId?: ProfileId }>(payload: T): Envelope["payload"] {
    const profileId = payload.profileId ?? this.profileId;
    const body: Envelope["payload"] = { ...payload };
    if (profileId === undefined) delete body.profileId;
    else body.profileId = profileId;
    return body;
  }

  /** A profile change: the plain envelope of contract §3, with no special properties (the server would
   * keep them on the profile). */
  private change(envelope: Envelope): Promise<void> {
    let body: string;
    try {
      body = encode(envelope);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.settings.filter && !this.settings.filter(envelope)) return Promise.resolve();
    return this.record("changes", envelope.type, () => body).then(() => undefined);
  }

  private record(stream: Stream, kind: string, make: Parameters<DurableBuffer["append"]>[2]): Promise<Row> {
    if (this.closed) return Promise.reject(new Error("this SpoolClient is closed"));
    return this.records.run(async () => {
      await this.ready;
      const { row, dropped } = await this.buffer.append(stream, kind, make, this.settings.bounds);
      this.mirror.remove(dropped);
      if (stream === "events") this.mirror.add(row);
      this.soon(this.settings.flushDelayMs);
      return row;
    });
  }

  // Sending.

  /** One pass over what is buffered now, oldest first (at most `maxBatches` requests). A call while a
   * flush runs in this tab gets that flush's result; while another tab flushes, it sends nothing and says
   * so. Never rejects for a network failure or an error answer: the result says what happened. */
  flush(options: { maxBatches?: number } = {}): Promise<FlushResult> {
    return this.drain(true, options.maxBatches);
  }

  private drain(explicit: boolean, maxBatches?: number): Promise<FlushResult> {
    if (this.running) return this.running;
    if (this.closed) return Promise.reject(new Error("this SpoolClient is closed"));
    const run = (async () => {
      await this.ready;
      await this.records.run(async () => undefined); // record calls made before this flush go with it
      const locked = await this.lock.run((keep) => this.flusher.pass(maxBatches, keep));
      const result = locked.held ? locked.value : await this.busy(locked.retryMs);
      await this.refreshMirror();
      this.afterFlush(result, explicit);
      return result;
    })();
    this.running = run.finally(() => (this.running = undefined));
    return this.running;
  }

  private async busy(retryMs: number): Promise<FlushResult> {
    const state = await this.buffer.state();
    const remaining = state.events + state.changes;
    return { sent: 0, accepted: 0, rejected: 0, remaining, retryAfterMs: retryMs, error: "another tab is flushing this buffer" };
  }

  private afterFlush(result: FlushResult, explicit: boolean): void {
    if (result.stopped) {
      this.autoStopped = true; // a 401 stays a 401: the app is told, and nothing retries by itself
      this.scheduler.cancel();
      return;
    }
    if (explicit && !result.error) this.autoStopped = false;
    if (result.retryAfterMs !== undefined) {
      this.backingOffUntil = this.settings.clock() + result.retryAfterMs;
      if (this.settings.autoFlush && !this.autoStopped && !this.closed) this.scheduler.at(result.retryAfterMs);
      return;
    }
    this.backingOffUntil = 0;
    if (result.remaining > 0) this.soon(this.settings.flushDelayMs); // rows recorded during the pass
  }

  private autoFlush(): void {
    if (this.closed || this.autoStopped) return;
    this.drain(false).catch((error: unknown) => {
      this.settings.onError(error);
      this.soon(FAILED_FLUSH_RETRY_MS);
    });
  }

  private soon(ms: number): void {
    if (this.settings.autoFlush && !this.autoStopped && !this.closed) this.scheduler.soon(ms);
  }

  /** The page is being hidden and may never come back. A browser page sends its waiting events now in a
   * keepalive request (profile changes stay: an increment whose answer is lost counts twice, and an
   * unloading page never reads its answer); React Native flushes as usual. */
  private onHidden(): void {
    if (this.closed || this.autoStopped || !this.settings.autoFlush) return;
    if (!this.settings.page?.keepalive) return this.autoFlush(); // now: a suspended app runs no timer
    if (this.settings.clock() < this.backingOffUntil) return; // the server asked to wait
    const rows = this.mirror.pick(this.flusher.inFlight);
    if (!rows.length) return;
    this.flusher
      .sendBeforeHidden(rows)
      .then(async () => {
        await this.refreshMirror();
        this.soon(this.settings.flushDelayMs);
      })
      .catch((error: unknown) => this.settings.onError(error));
  }

  /** The network is back: a wait set by a network failure is over; a wait the server asked for is not. */
  private onOnline(): void {
    if (this.closed || !this.settings.autoFlush) return;
    this.buffer
      .update((state) => (state.lastError?.startsWith("network:") ? { retryAt: null, retryDelay: null } : {}))
      .then(() => this.soon(0))
      .catch((error: unknown) => this.settings.onError(error));
  }

  private async refreshMirror(): Promise<void> {
    const budget = this.settings.flush.limits.keepaliveBytes - 256;
    const taken = await this.buffer.take("events", 0, Number.MAX_SAFE_INTEGER, { rows: 1000, bytes: budget, rowBytes: budget }, new Set());
    this.mirror.replace(taken.rows);
  }

  // Reading the state.

  /** Rows (events and profile changes) waiting in the buffer. */
  async pending(): Promise<number> {
    await this.ready;
    await this.records.run(async () => undefined);
    const state = await this.buffer.state();
    return state.events + state.changes;
  }

  /** The newest dead letters first: rows refused for good, with the server's code and error. */
  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    await this.ready;
    return this.buffer.deadLetters(limit);
  }

  async status(): Promise<Status> {
    await this.ready;
    await this.records.run(async () => undefined);
    const state = await this.buffer.state();
    return {
      pending: state.events + state.changes,
      events: state.events,
      changes: state.changes,
      bytes: state.bytes,
      deadLetters: state.dead,
      droppedEvents: state.droppedTotal,
      droppedUnreported: state.droppedUnreported,
      lastError: state.lastError,
      lastErrorAt: state.lastErrorAt,
      lastSentAt: state.lastSentAt,
      retryAt: state.retryAt === null ? null : isoMs(state.retryAt),
      clockSkewMs: state.clockSkewMs,
      deviceId: state.deviceId,
      sessionId: state.session?.id ?? null,
    };
  }

  /** Stop listening and flushing by itself, after the flush and the record calls under way. Sends nothing
   * more: what waits stays in the buffer for the next client on it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.scheduler.cancel();
    this.unlisten?.();
    await this.running?.catch(() => undefined);
    await this.records.run(async () => undefined);
    if (this.settings.ownsStorage) this.settings.storage.close?.();
  }
}
