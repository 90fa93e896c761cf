// The storage interface under a SpoolClient: four tables of JSON records keyed by integers, changed only
// inside transactions that commit whole or not at all. IndexedDB, AsyncStorage and memory implement it.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Doc = { [key: string]: Json };

/** `events` and `changes`: the rows waiting to be sent, keyed by their sequence number (never reused).
 * `dead`: the dead letters, keyed by the sequence number the row had. `meta`: the state (key 0) and the
 * flush lease (key 1). */
export type Table = "events" | "changes" | "dead" | "meta";
export const TABLES: readonly Table[] = ["events", "changes", "dead", "meta"];

export interface Entry {
  key: number;
  value: Doc;
}

export interface ListOptions {
  /** Only keys above this one (below it when `reverse`). */
  after?: number;
  limit: number;
  /** Highest keys first. */
  reverse?: boolean;
}

/** What a transaction may do. A transaction's work must await nothing but these calls: IndexedDB commits a
 * transaction as soon as it has no request pending, so a `fetch` or a timer inside one would end it. */
export interface StorageTx {
  get(table: Table, key: number): Promise<Doc | undefined>;
  put(table: Table, key: number, value: Doc): Promise<void>;
  delete(table: Table, key: number): Promise<void>;
  /** Up to `limit` entries in key order; a transaction sees its own writes. */
  list(table: Table, options: ListOptions): Promise<Entry[]>;
}

export type Mode = "readonly" | "readwrite";

export interface SpoolStorage {
  /** Names the store: one flush at a time per name, across tabs (the lock's name). */
  readonly name: string;
  /** Runs `work` alone against the store (no other readwrite transaction on it interleaves, in this tab
   * or another) and commits its writes together and durably when it resolves, or none of them when it
   * throws or the process dies first. */
  transaction<T>(mode: Mode, work: (tx: StorageTx) => Promise<T>): Promise<T>;
  close?(): void;
}
