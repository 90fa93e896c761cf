// A store on React Native's AsyncStorage (or any store of that shape): one key per record, and a commit
// that is atomic although AsyncStorage has no transactions (new values wait under temporary keys until a
// small journal, written in one setItem, names them; a reopen finishes or forgets what a crash cut short).

import { Mutex } from "../mutex.js";
import { applyToKeys, StagedTx, type Committed, type Write } from "./staged.js";
import { TABLES, type Doc, type Mode, type SpoolStorage, type StorageTx, type Table } from "./types.js";

/** What this adapter uses of `@react-native-async-storage/async-storage`'s default export, so that the
 * package needs no React Native dependency. The multi* calls are used when present. */
export interface AsyncStorageLike {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  removeItem(key: string): Promise<void>;
  getAllKeys(): Promise<readonly string[]>;
  multiGet?(keys: readonly string[]): Promise<readonly (readonly [string, string | null])[]>;
  multiSet?(pairs: [string, string][]): Promise<void>;
  multiRemove?(keys: readonly string[]): Promise<void>;
}

interface Journal {
  id: string;
  set: string[]; // final keys, whose values wait under temporary keys
  remove: string[];
}

class AsyncStorageStore implements SpoolStorage, Committed {
  private readonly mutex = new Mutex();
  private sorted = new Map<Table, number[]>();
  private opened = false;
  private commits = 0;

  constructor(
    private readonly kv: AsyncStorageLike,
    private readonly prefix: string,
  ) {}

  get name(): string {
    return `asyncstorage:${this.prefix}`;
  }

  transaction<T>(mode: Mode, work: (tx: StorageTx) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      if (!this.opened) await this.open();
      const tx = new StagedTx(this, mode === "readwrite");
      const result = await work(tx);
      await this.commit(tx.writes());
      return result;
    });
  }

  keys(table: Table): readonly number[] {
    return this.sorted.get(table) ?? [];
  }

  async read(table: Table, keys: number[]): Promise<(Doc | undefined)[]> {
    const texts = await this.getMany(keys.map((key) => this.slot(table, key)));
    return texts.map((text) => (text == null ? undefined : (JSON.parse(text) as Doc)));
  }

  private slot(table: Table, key: number): string {
    return `${this.prefix}:${table}:${key}`;
  }

  private temporary(id: string, slot: string): string {
    return `${this.prefix}:tmp:${id}:${slot}`;
  }

  private get journalKey(): string {
    return `${this.prefix}:journal`;
  }

  /** Finish a commit a crash interrupted, forget values no journal names, and index the keys. */
  private async open(): Promise<void> {
    const text = await this.kv.getItem(this.journalKey);
    if (text) await this.finish(JSON.parse(text) as Journal);
    const all = await this.kv.getAllKeys();
    const strays = all.filter((key) => key.startsWith(`${this.prefix}:tmp:`));
    if (strays.length) await this.removeMany(strays);
    const sorted = new Map<Table, number[]>(TABLES.map((table) => [table, []]));
    for (const key of all) {
      const [prefix, table, number] = key.split(":");
      const keys = sorted.get(table as Table);
      if (prefix === this.prefix && keys && number !== undefined && /^\d+$/.test(number)) keys.push(Number(number));
    }
    for (const keys of sorted.values()) keys.sort((a, b) => a - b);
    this.sorted = sorted;
    this.opened = true;
  }

  private async commit(writes: Write[]): Promise<void> {
    if (!writes.length) return;
    this.commits += 1;
    const id = `${Date.now().toString(36)}-${this.commits}`;
    const sets = writes.filter((write) => write.value);
    const journal: Journal = {
      id,
      set: sets.map((write) => this.slot(write.table, write.key)),
      remove: writes.filter((write) => !write.value).map((write) => this.slot(write.table, write.key)),
    };
    await this.setMany(sets.map((write) => [this.temporary(id, this.slot(write.table, write.key)), JSON.stringify(write.value)]));
    await this.kv.setItem(this.journalKey, JSON.stringify(journal)); // the commit point
    for (const table of TABLES) {
      const mine = writes.filter((write) => write.table === table);
      if (mine.length) this.sorted.set(table, applyToKeys([...this.keys(table)], mine));
    }
    try {
      await this.finish(journal);
    } catch {
      this.opened = false; // committed all the same: the next transaction finishes it first
    }
  }

  /** Move the journal's values to their keys and remove what it removes. Safe to run twice: a value
   * whose temporary key is gone was moved already. */
  private async finish(journal: Journal): Promise<void> {
    const temporaries = journal.set.map((slot) => this.temporary(journal.id, slot));
    const values = await this.getMany(temporaries);
    const moves: [string, string][] = [];
    journal.set.forEach((slot, index) => {
      const value = values[index];
      if (value != null) moves.push([slot, value]);
    });
    await this.setMany(moves);
    await this.removeMany([...journal.remove, ...temporaries]);
    await this.kv.removeItem(this.journalKey);
  }

  private async getMany(keys: string[]): Promise<(string | null)[]> {
    if (!keys.length) return [];
    if (this.kv.multiGet) return (await this.kv.multiGet(keys)).map(([, value]) => value);
    return Promise.all(keys.map((key) => this.kv.getItem(key)));
  }

  private async setMany(pairs: [string, string][]): Promise<void> {
    if (!pairs.length) return;
    if (this.kv.multiSet) return this.kv.multiSet(pairs);
    for (const [key, value] of pairs) await this.kv.setItem(key, value);
  }

  private async removeMany(keys: string[]): Promise<void> {
    if (!keys.length) return;
    if (this.kv.multiRemove) return this.kv.multiRemove(keys);
    for (const key of keys) await this.kv.removeItem(key);
  }
}

/** `asyncStorage(AsyncStorage)`: the buffer in React Native's AsyncStorage, under keys `spool:...`
 * (`prefix` names another buffer). One JS context owns it: React Native has no tabs. */
export function asyncStorage(kv: AsyncStorageLike, options: { prefix?: string } = {}): SpoolStorage {
  const prefix = options.prefix ?? "spool";
  if (!/^[\w.-]+$/.test(prefix)) throw new Error("prefix must be letters, digits, '.', '_' or '-'");
  return new AsyncStorageStore(kv, prefix);
}
