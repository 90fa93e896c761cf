// One flush at a time per store, across tabs: two flushes would send the same rows at once, and an
// increment sent twice counts twice. The Web Locks API where the platform has it (a lock dies with its
// tab); else a lease row in the store, with an expiry, renewed before each request.

import type { DurableBuffer } from "./buffer.js";

/** What this uses of `navigator.locks` (the Web Locks API). */
export interface LockManagerLike {
  request<T>(name: string, options: { ifAvailable: boolean }, callback: (lock: unknown) => Promise<T>): Promise<T>;
}

export type Locked<T> = { held: true; value: T } | { held: false; retryMs: number };

/** `keep()` before each request: false when the lock was lost (a lease that expired and was taken). */
export interface FlushLock {
  run<T>(work: (keep: () => Promise<boolean>) => Promise<T>): Promise<Locked<T>>;
}

const BUSY_RETRY_MS = 2_000; // how soon to look again when another tab is flushing

export function webLock(locks: LockManagerLike, name: string): FlushLock {
  return {
    run: <T>(work: (keep: () => Promise<boolean>) => Promise<T>) =>
      locks.request(name, { ifAvailable: true }, async (lock): Promise<Locked<T>> => {
        if (!lock) return { held: false, retryMs: BUSY_RETRY_MS };
        return { held: true, value: await work(async () => true) };
      }),
  };
}

/** A lease of `ttlMs`, longer than one request may take, so that a tab that died mid-flush frees the
 * buffer within that time. */
export function leaseLock(buffer: DurableBuffer, owner: string, clock: () => number, ttlMs: number): FlushLock {
  return {
    async run<T>(work: (keep: () => Promise<boolean>) => Promise<T>): Promise<Locked<T>> {
      const holder = await buffer.takeLease(owner, clock(), ttlMs);
      if (holder) return { held: false, retryMs: Math.min(Math.max(holder.until - clock(), 1_000), BUSY_RETRY_MS) };
      try {
        return { held: true, value: await work(async () => !(await buffer.takeLease(owner, clock(), ttlMs))) };
      } finally {
        await buffer.releaseLease(owner);
      }
    },
  };
}
