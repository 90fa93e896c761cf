// React Native's AsyncStorage as the tests use it: a Map, which can be killed after a number of writes.

import type { AsyncStorageLike } from "../src/storage/asyncstorage.js";

/** AsyncStorage's shape over a Map. `dieAfter` writes, it throws and stays dead (a killed app). Its multi*
 * calls apply item by item, so a death can fall between two items (iOS's multiSet is not atomic). */
export class FakeAsyncStorage implements AsyncStorageLike {
  writes = 0;
  dieAfter = Infinity;
  died = false;
  constructor(
    readonly data = new Map<string, string>(),
    multi = true,
  ) {
    if (!multi) {
      this.multiGet = undefined;
      this.multiSet = undefined;
      this.multiRemove = undefined;
    }
  }
  private write(apply: () => void): void {
    if (this.writes >= this.dieAfter) this.die();
    this.writes += 1;
    apply();
  }
  private die(): never {
    this.died = true;
    throw new Error("the app was killed");
  }
  async getItem(key: string) {
    if (this.writes >= this.dieAfter) this.die();
    return this.data.get(key) ?? null;
  }
  async setItem(key: string, value: string) {
    this.write(() => this.data.set(key, value));
  }
  async removeItem(key: string) {
    this.write(() => this.data.delete(key));
  }
  async getAllKeys() {
    return [...this.data.keys()];
  }
  multiGet? = async (keys: readonly string[]) => keys.map((key) => [key, this.data.get(key) ?? null] as const);
  multiSet? = async (pairs: [string, string][]) => {
    for (const [key, value] of pairs) await this.setItem(key, value);
  };
  multiRemove? = async (keys: readonly string[]) => {
    for (const key of keys) await this.removeItem(key);
  };
}

