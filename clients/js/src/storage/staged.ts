// A transaction for stores without transactions of their own (memory, AsyncStorage): reads go through to
// the store, writes wait in the transaction until it commits, and a transaction sees its own writes.

import type { Doc, Entry, ListOptions, StorageTx, Table } from "./types.js";

/** The committed side of a store: its keys in order (kept in memory), and reading values. */
export interface Committed {
  keys(table: Table): readonly number[];
  read(table: Table, keys: number[]): Promise<(Doc | undefined)[]>;
}

/** A write waiting for the commit: a value, or undefined for a delete. */
export interface Write {
  table: Table;
  key: number;
  value: Doc | undefined;
}

export class StagedTx implements StorageTx {
  private readonly staged = new Map<string, Write>();

  constructor(
    private readonly committed: Committed,
    private readonly writable: boolean,
  ) {}

  writes(): Write[] {
    return [...this.staged.values()];
  }

  async get(table: Table, key: number): Promise<Doc | undefined> {
    const write = this.staged.get(slot(table, key));
    if (write) return copy(write.value);
    const [value] = await this.committed.read(table, [key]);
    return value;
  }

  async put(table: Table, key: number, value: Doc): Promise<void> {
    this.stage({ table, key, value: copy(value) });
  }

  async delete(table: Table, key: number): Promise<void> {
    this.stage({ table, key, value: undefined });
  }

  async list(table: Table, options: ListOptions): Promise<Entry[]> {
    const keys = this.listKeys(table, options);
    const missing = keys.filter((key) => !this.staged.has(slot(table, key)));
    const read = await this.committed.read(table, missing);
    const found = new Map(missing.map((key, index) => [key, read[index]]));
    const entries: Entry[] = [];
    for (const key of keys) {
      const write = this.staged.get(slot(table, key));
      const value = write ? copy(write.value) : found.get(key);
      if (value) entries.push({ key, value });
    }
    return entries;
  }

  /** The first `limit` keys in order: committed keys not deleted here, and keys written here. */
  private listKeys(table: Table, { after, limit, reverse = false }: ListOptions): number[] {
    const beyond = (key: number) => after === undefined || (reverse ? key < after : key > after);
    const chosen: number[] = [];
    const committed = this.committed.keys(table);
    let index = startIndex(committed, after, reverse);
    while (chosen.length < limit && index >= 0 && index < committed.length) {
      const key = committed[index] as number;
      const write = this.staged.get(slot(table, key));
      if (!write || write.value) chosen.push(key);
      index += reverse ? -1 : 1;
    }
    for (const write of this.staged.values()) {
      if (write.table === table && write.value && beyond(write.key) && !chosen.includes(write.key)) chosen.push(write.key);
    }
    chosen.sort((a, b) => (reverse ? b - a : a - b));
    return chosen.slice(0, limit);
  }

  private stage(write: Write): void {
    if (!this.writable) throw new Error("a readonly transaction cannot write");
    this.staged.set(slot(write.table, write.key), write);
  }
}

function slot(table: Table, key: number): string {
  return `${table}/${key}`;
}

function copy<T extends Doc | undefined>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** Where a walk over sorted keys starts: the first key above `after` (the last below it, when reverse). */
function startIndex(keys: readonly number[], after: number | undefined, reverse: boolean): number {
  if (after === undefined) return reverse ? keys.length - 1 : 0;
  let low = 0;
  let high = keys.length; // the first index whose key is above `after`
  while (low < high) {
    const middle = (low + high) >> 1;
    if ((keys[middle] as number) <= after) low = middle + 1;
    else high = middle;
  }
  if (!reverse) return low;
  return keys[low - 1] === after ? low - 2 : low - 1;
}

/** Applies committed writes to a sorted key list: new keys inserted in order, deleted ones removed. */
export function applyToKeys(keys: number[], writes: Write[]): number[] {
  const removed = new Set(writes.filter((w) => !w.value).map((w) => w.key));
  let result = removed.size ? keys.filter((key) => !removed.has(key)) : keys;
  for (const write of writes) {
    if (!write.value) continue;
    const at = startIndex(result, write.key, false);
    if (result[at - 1] === write.key) continue; // already there: an update
    if (at === result.length) result.push(write.key);
    else result.splice(at, 0, write.key);
  }
  return result;
}
