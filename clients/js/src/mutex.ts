// One async task at a time, in the order they asked: the memory and AsyncStorage stores' transactions,
// and the client's record calls (profile changes must keep their order).

export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined); // a failed task does not block the ones behind it
    return result;
  }
}
