// What a SpoolClient can be given, its defaults, and the checks made when it is made (a bad option fails
// at the constructor, not at the first flush days later).

import type { BackoffRule } from "./backoff.js";
import type { Bounds } from "./buffer.js";
import type { Envelope } from "./envelopes.js";
import { DEFAULT_LIMITS, type FlushConfig, type Limits } from "./flush.js";
import type { LockManagerLike } from "./lock.js";
import { browserPage, type PageEvents } from "./page.js";
import { DEFAULT_SESSION_RULE, type SessionRule } from "./session.js";
import { indexedDBStorage } from "./storage/indexeddb.js";
import type { SpoolStorage } from "./storage/types.js";
import type { FetchLike, Timers } from "./transport.js";
import { SDK_NAME, VERSION } from "./version.js";

export interface SpoolOptions {
  /** The server's base URL, as for the OpenPanel SDKs: `https://host` or `https://host/api`. */
  apiUrl: string;
  clientId: string;
  /** Only where the code is not public (a kiosk, an internal app): a browser page should leave it out and
   * be authenticated by its Origin (the project's allowed origins, contract §2). */
  clientSecret?: string;
  /** Where the buffer lives: IndexedDB in a browser (the default), `asyncStorage(AsyncStorage)` in React
   * Native, `memoryStorage()` in tests. */
  storage?: SpoolStorage;
  /** The app's own device id (1 to 64 characters), kept in the buffer; else a UUID made once and kept. */
  deviceId?: string;
  /** A new session after this long without events (30 minutes) ... */
  sessionTimeoutMs?: number;
  /** ... or once a session is this old (24 hours). */
  sessionMaxMs?: number;
  /** The buffer's bounds: past them the oldest events are dropped and counted (README: "Bounded"). */
  maxBufferEvents?: number;
  maxBufferBytes?: number;
  /** The newest this many dead letters are kept. */
  maxDeadLetters?: number;
  /** A row the server fails on (`internal`) this many times becomes a dead letter. */
  maxAttempts?: number;
  /** Flush by itself: shortly after a record call, when the page is hidden, when the network comes back,
   * and after a wait the server or the backoff set. */
  autoFlush?: boolean;
  /** How long after a record call the automatic flush goes, so that a burst becomes one request. */
  flushDelayMs?: number;
  /** Per request, the answer's body included. */
  timeoutMs?: number;
  /** Compress request bodies where the platform has CompressionStream (browsers, Node 18+). */
  gzip?: boolean;
  /** Sent as `User-Agent` where the platform lets a request set it. React Native needs one: its default
   * (`okhttp/4.x`, `CFNetwork/...`) reads as a server, whose events get no session (contract §6.4).
   * Never set it in a browser: the browser sends its own, and the header would fail the CORS preflight. */
  userAgent?: string;
  /** As in the OpenPanel SDK: return false to leave a call out of the buffer. */
  filter?: (envelope: Envelope) => boolean;
  limits?: Partial<Limits>;
  /** Page or app lifecycle events: browserPage() in a browser (the default), appStatePage(AppState) in
   * React Native; null for none. */
  page?: PageEvents | null;
  /** The Web Locks API (the default is `navigator.locks` where there is one); null to use the lease row. */
  locks?: LockManagerLike | null;
  /** Where automatic flushes report what went wrong (the default: console.warn). */
  onError?: (error: unknown) => void;
  /** For tests, and platforms without the globals. */
  fetch?: FetchLike;
  clock?: () => number;
  timers?: Timers;
  random?: () => number;
}

export interface Settings {
  storage: SpoolStorage;
  ownsStorage: boolean;
  deviceId: string | undefined;
  session: SessionRule;
  bounds: Bounds;
  maxDeadLetters: number;
  maxAttempts: number;
  autoFlush: boolean;
  flushDelayMs: number;
  flush: FlushConfig;
  filter: ((envelope: Envelope) => boolean) | undefined;
  page: PageEvents | undefined;
  locks: LockManagerLike | undefined;
  onError: (error: unknown) => void;
  fetch: FetchLike;
  clock: () => number;
  timers: Timers;
  random: () => number;
}

export const BACKOFF: BackoffRule = { baseMs: 1_000, capMs: 5 * 60_000, floorMs: 1_000 };
const RETRY_AFTER_CAP_MS = 60 * 60_000;

export function readOptions(options: SpoolOptions): Settings {
  if (!/^https?:\/\/[^/]/i.test(options.apiUrl ?? "")) throw new TypeError(`apiUrl must be an http or https URL, not ${JSON.stringify(options.apiUrl)}`);
  if (typeof options.clientId !== "string" || !options.clientId) throw new TypeError("clientId is required (manage.py create_project prints it)");
  const deviceId = options.deviceId === undefined ? undefined : String(options.deviceId).trim();
  if (deviceId !== undefined && (deviceId.length < 1 || deviceId.length > 64)) throw new TypeError("deviceId must be 1 to 64 characters (contract §3.1)");
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits };
  const numbers = {
    sessionTimeoutMs: options.sessionTimeoutMs ?? DEFAULT_SESSION_RULE.idleMs,
    sessionMaxMs: options.sessionMaxMs ?? DEFAULT_SESSION_RULE.maxMs,
    maxBufferEvents: options.maxBufferEvents ?? 100_000,
    maxBufferBytes: options.maxBufferBytes ?? 32 * 1024 * 1024,
    maxDeadLetters: options.maxDeadLetters ?? 1_000,
    maxAttempts: options.maxAttempts ?? 20,
    flushDelayMs: options.flushDelayMs ?? 1_000,
    timeoutMs: options.timeoutMs ?? 60_000,
    ...limits,
  };
  for (const [name, value] of Object.entries(numbers)) {
    if (!(typeof value === "number" && value >= 0 && Number.isFinite(value))) throw new TypeError(`${name} must be a number of at least 0, not ${String(value)}`);
  }
  if (numbers.maxBufferEvents < 1 || numbers.maxAttempts < 1) throw new TypeError("maxBufferEvents and maxAttempts must be at least 1");
  const storage = options.storage ?? indexedDBStorage();
  const fetch = options.fetch ?? (globalThis.fetch ? (globalThis.fetch.bind(globalThis) as FetchLike) : undefined);
  if (!fetch) throw new TypeError("there is no fetch here: pass options.fetch");
  const navigatorLocks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  return {
    storage,
    ownsStorage: !options.storage,
    deviceId,
    session: { idleMs: numbers.sessionTimeoutMs, maxMs: numbers.sessionMaxMs },
    bounds: { maxRows: numbers.maxBufferEvents, maxBytes: numbers.maxBufferBytes },
    maxDeadLetters: numbers.maxDeadLetters,
    maxAttempts: numbers.maxAttempts,
    autoFlush: options.autoFlush ?? true,
    flushDelayMs: numbers.flushDelayMs,
    flush: {
      url: `${options.apiUrl.replace(/\/+$/, "")}/track/batch`,
      headers: headers(options),
      limits,
      backoff: BACKOFF,
      retryAfterCapMs: RETRY_AFTER_CAP_MS,
      timeoutMs: numbers.timeoutMs,
      gzip: options.gzip ?? true,
    },
    filter: options.filter,
    page: options.page === null ? undefined : (options.page ?? browserPage()),
    locks: options.locks === null ? undefined : (options.locks ?? navigatorLocks),
    onError: options.onError ?? ((error) => console.warn("spool-offline:", error)),
    fetch,
    clock: options.clock ?? Date.now,
    timers: options.timers ?? { setTimeout: (callback, ms) => setTimeout(callback, ms), clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>) },
    random: options.random ?? Math.random,
  };
}

function headers(options: SpoolOptions): { [name: string]: string } {
  const found: { [name: string]: string } = {
    "openpanel-client-id": options.clientId,
    "openpanel-sdk-name": SDK_NAME,
    "openpanel-sdk-version": VERSION,
  };
  if (options.clientSecret) found["openpanel-client-secret"] = options.clientSecret;
  if (options.userAgent) found["User-Agent"] = options.userAgent;
  return found;
}
