// How long to wait before the next try: the server's Retry-After, else exponential backoff with full
// jitter, capped, and never less than a floor, so that a client never spins.

export interface BackoffRule {
  baseMs: number;
  capMs: number;
  floorMs: number;
}

/** Full jitter: uniform in [0, min(cap, base * 2^(failures-1))], then at least the floor. `failures`
 * counts failed tries in a row, from 1. Jitter spreads a fleet of devices that came back online together;
 * the floor keeps a draw near zero from becoming a tight loop. */
export function jittered(failures: number, rule: BackoffRule, random: () => number): number {
  const ceiling = Math.min(rule.capMs, rule.baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 64));
  return Math.max(rule.floorMs, random() * ceiling);
}

/** Milliseconds the server asked to wait: `Retry-After` as seconds or as an HTTP date, a date measured
 * against the answer's own `Date` when it has one (the device clock may be wrong by days). Undefined when
 * absent or unreadable (a browser hides both headers from a cross-origin page unless the server exposes
 * them); at most `capMs`. */
export function retryAfterMs(retryAfter: string | null, date: string | null, now: number, capMs: number): number | undefined {
  const value = (retryAfter ?? "").trim();
  if (!value) return undefined;
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(value)) ms = Number(value) * 1000;
  else {
    const moment = Date.parse(value);
    if (Number.isNaN(moment)) return undefined;
    const serverNow = date ? Date.parse(date) : Number.NaN;
    ms = moment - (Number.isNaN(serverNow) ? now : serverNow);
  }
  return Math.min(Math.max(ms, 0), capMs);
}
