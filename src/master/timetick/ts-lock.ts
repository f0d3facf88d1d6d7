/**
 * TsLock: makes "allocate a timestamp" and "register it as a pending DDL" one step with respect to
 * the time-tick producer (Milvus's ddlTsLockManager).
 *
 * Without it a DDL could allocate ts D, the producer allocate T > D and read the pending DDLs
 * before D is registered, and publish a tick above D. With it, the DDL scheduler runs
 * `lock.run(async () => { D = await tso.alloc(1); pending.add(D) })` and the producer runs its TSO
 * read and `pendingDdlTs()` read under the same lock, so one of them sees the other.
 */

/** A FIFO async mutex. */
export class TsLock {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `fn` once every earlier `run` has settled; resolves or rejects as `fn` does. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
