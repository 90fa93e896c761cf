// The browser's store: an IndexedDB database with one object store per table. IndexedDB serializes
// overlapping readwrite transactions across tabs and commits each whole; `durability: "strict"` asks for
// the commit to be on disk before it is reported (Chrome's default is relaxed).

import { TABLES, type Doc, type Entry, type ListOptions, type Mode, type SpoolStorage, type StorageTx, type Table } from "./types.js";

const VERSION = 1;

class IndexedDBStore implements SpoolStorage {
  private db: Promise<IDBDatabase> | undefined;

  constructor(
    readonly name: string,
    private readonly factory: IDBFactory,
  ) {}

  transaction<T>(mode: Mode, work: (tx: StorageTx) => Promise<T>): Promise<T> {
    return this.open().then((db) => run(db, mode, work));
  }

  close(): void {
    void this.db?.then((db) => db.close(), () => undefined);
    this.db = undefined;
  }

  private open(): Promise<IDBDatabase> {
    if (!this.db) {
      this.db = openDatabase(this.factory, this.name);
      this.db.catch(() => (this.db = undefined)); // a failed open is tried again by the next transaction
    }
    return this.db;
  }
}

function openDatabase(factory: IDBFactory, name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = factory.open(name, VERSION);
    request.onupgradeneeded = () => {
      for (const table of TABLES) {
        if (!request.result.objectStoreNames.contains(table)) request.result.createObjectStore(table);
      }
    };
    request.onsuccess = () => {
      const db = request.result;
      db.onversionchange = () => db.close(); // a newer version in another tab must not wait for this one
      resolve(db);
    };
    request.onerror = () => reject(request.error ?? new Error(`cannot open IndexedDB database ${name}`));
    // No onblocked: an open waits for an older tab to close its connection, which onversionchange does.
  });
}

function run<T>(db: IDBDatabase, mode: Mode, work: (tx: StorageTx) => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const transaction = db.transaction([...TABLES], mode, { durability: "strict" });
    let outcome: { value: T } | { error: unknown } | undefined;
    transaction.oncomplete = () => {
      if (outcome && "value" in outcome) resolve(outcome.value);
      else reject(new Error("the IndexedDB transaction ended before its work did (it awaited something else)"));
    };
    transaction.onabort = () => {
      reject(outcome && "error" in outcome ? outcome.error : (transaction.error ?? new Error("IndexedDB transaction aborted")));
    };
    work(new IndexedDBTx(transaction)).then(
      (value) => (outcome = { value }),
      (error: unknown) => {
        outcome = { error };
        try {
          transaction.abort();
        } catch {
          // it had finished already: oncomplete or onabort reports it
        }
      },
    );
  });
}

class IndexedDBTx implements StorageTx {
  constructor(private readonly transaction: IDBTransaction) {}

  get(table: Table, key: number): Promise<Doc | undefined> {
    return request(this.store(table).get(key)) as Promise<Doc | undefined>;
  }

  async put(table: Table, key: number, value: Doc): Promise<void> {
    await request(this.store(table).put(value, key));
  }

  async delete(table: Table, key: number): Promise<void> {
    await request(this.store(table).delete(key));
  }

  async list(table: Table, { after, limit, reverse = false }: ListOptions): Promise<Entry[]> {
    if (limit <= 0) return [];
    const store = this.store(table);
    let range: IDBKeyRange | null = null;
    if (after !== undefined) range = reverse ? IDBKeyRange.upperBound(after, true) : IDBKeyRange.lowerBound(after, true);
    if (!reverse) {
      // Two requests issued together: one round of events instead of a cursor step per row.
      const [keys, values] = await Promise.all([request(store.getAllKeys(range, limit)), request(store.getAll(range, limit))]);
      return keys.map((key, index) => ({ key: key as number, value: values[index] as Doc }));
    }
    return new Promise((resolve, reject) => {
      const entries: Entry[] = [];
      const cursor = store.openCursor(range, "prev");
      cursor.onerror = () => reject(cursor.error);
      cursor.onsuccess = () => {
        const at = cursor.result;
        if (!at || entries.length >= limit) return resolve(entries);
        entries.push({ key: at.key as number, value: at.value as Doc });
        if (entries.length >= limit) return resolve(entries);
        at.continue();
      };
    });
  }

  private store(table: Table): IDBObjectStore {
    return this.transaction.objectStore(table);
  }
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** `indexedDBStorage()`: the default store in a browser, the database `spool-offline` (`name` for another
 * buffer). `indexedDB` is for tests (fake-indexeddb) and workers. */
export function indexedDBStorage(options: { name?: string; indexedDB?: IDBFactory } = {}): SpoolStorage {
  const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!factory) throw new Error("IndexedDB is not available here: pass another storage (memoryStorage, asyncStorage)");
  return new IndexedDBStore(options.name ?? "spool-offline", factory);
}
