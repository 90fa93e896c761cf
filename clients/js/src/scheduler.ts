// The automatic flush's one timer: asked for a flush in some milliseconds, it keeps whichever time is
// sooner, so that a burst of record calls becomes one request and a backoff is never cut short by a
// later, longer ask.

import type { Timers } from "./transport.js";

export class Scheduler {
  private handle: unknown;
  private due: number | undefined;

  constructor(
    private readonly timers: Timers,
    private readonly clock: () => number,
    private readonly run: () => void,
  ) {}

  /** A flush in `ms`, unless one is due sooner. */
  soon(ms: number): void {
    const due = this.clock() + ms;
    if (this.due !== undefined && this.due <= due) return;
    this.cancel();
    this.due = due;
    this.handle = this.timers.setTimeout(() => {
      this.handle = this.due = undefined;
      this.run();
    }, ms);
  }

  /** Replace whatever is due by a flush in `ms` (after a backoff that sets the next try). */
  at(ms: number): void {
    this.cancel();
    this.soon(ms);
  }

  cancel(): void {
    if (this.handle !== undefined) this.timers.clearTimeout(this.handle);
    this.handle = this.due = undefined;
  }
}
