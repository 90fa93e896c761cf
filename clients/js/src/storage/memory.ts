// A store in memory: for tests, and for pages that must not write to the device. Two clients given the
// same memoryStorage() share it as two tabs share an IndexedDB database.

import { Mutex } from "../mutex.js";
import { applyToKeys, StagedTx, type Committed, type Write } from "./staged.js";
import { TABLES, type Doc, type Mode, type SpoolStorage, type StorageTx, type Table } from "./types.js";

let made = 0;

class MemoryStorage implements SpoolStorage, Committed {
  private readonly values = new Map<string, string>(); // JSON text: a read never aliases a stored value
  private readonly sorted = new Map<Table, number[]>(TABLES.map((table) => [table, []]));
  private readonly mutex = new Mutex();

  constructor(readonly name: string) {}

  transaction<T>(mode: Mode, work: (tx: StorageTx) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      const tx = new StagedTx(this, mode === "readwrite");
      const result = await work(tx);
      this.commit(tx.writes());
      return result;
    });
  }

  keys(table: Table): readonly number[] {
    return this.sorted.get(table) as number[];
  }

  async read(table: Table, keys: number[]): Promise<(Doc | undefined)[]> {
    return keys.map((key) => {
      const text = this.values.get(`${table}/${key}`);
      return text === undefined ? undefined : (JSON.parse(text) as Doc);
    });
  }

  private commit(writes: Write[]): void {
    for (const write of writes) {
      const slot = `${write.table}/${write.key}`;
      if (write.value) this.values.set(slot, JSON.stringify(write.value));
      else this.values.delete(slot);
    }
    for (const table of TABLES) {
      const mine = writes.filter((write) => write.table === table);
      if (mine.length) this.sorted.set(table, applyToKeys(this.sorted.get(table) as number[], mine));
    }
  }
}

export function memoryStorage(name?: string): SpoolStorage {
  made += 1;
  return new MemoryStorage(name ?? `memory-${made}`);
}
