// The events a hidden page can still send: a copy in memory of the oldest waiting events, up to what one
// keepalive request may carry. An unloading page gets no time to read IndexedDB, so what it sends must
// already be in memory when the page is hidden.

import type { Row } from "./buffer.js";

export class Mirror {
  private rows = new Map<number, Row>();
  private bytes = 0;

  constructor(private readonly budget: number) {}

  /** Keep a copy of a new event if there is room. */
  add(row: Row): void {
    if (this.rows.has(row.seq) || this.bytes + row.size + 1 > this.budget) return;
    this.rows.set(row.seq, row);
    this.bytes += row.size + 1;
  }

  remove(seqs: Iterable<number>): void {
    for (const seq of seqs) {
      const row = this.rows.get(seq);
      if (!row) continue;
      this.rows.delete(seq);
      this.bytes -= row.size + 1;
    }
  }

  /** Start again from what the buffer holds now (the oldest events, read after a flush). */
  replace(rows: Row[]): void {
    this.rows.clear();
    this.bytes = 0;
    for (const row of rows) this.add(row);
  }

  /** The events to send, oldest first, leaving out those already in flight. */
  pick(inFlight: ReadonlySet<number>): Row[] {
    return [...this.rows.values()].filter((row) => !inFlight.has(row.seq)).sort((a, b) => a.seq - b.seq);
  }
}
