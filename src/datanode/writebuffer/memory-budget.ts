/**
 * MemoryBudget: the node-wide bound on buffered row memory (`datanode.flush.memoryLimitBytes`).
 *
 * Insert nodes reserve the bytes of a message before appending it and syncs release them once the
 * data is durable (or dropped). At the bound, {@link MemoryBudget.reserve} waits: the insert node
 * awaits, its queue fills, the dispatcher stops reading the pchannel — consumption pauses instead
 * of memory growing. A reservation is always granted when nothing is held, so a single message
 * larger than the bound cannot wedge the node. Waiters are served in arrival order.
 */
import { ErrorCode, TidalError } from '../../common/errors.js';

interface Waiter {
  bytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** A counting bound on bytes held, with FIFO waiting. */
export class MemoryBudget {
  private usedBytes = 0;
  private readonly waiters: Waiter[] = [];

  /** `limitBytes`: the most held at once (except one reservation when nothing is held). */
  constructor(readonly limitBytes: number) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes < 1) throw new TidalError(ErrorCode.InvalidArgument, `memory limit must be a positive integer (bytes), got ${limitBytes}`);
  }

  /** Bytes held now. */
  get used(): number {
    return this.usedBytes;
  }

  /** Reservations waiting for room. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Whether a reservation of `bytes` made now would have to wait. */
  wouldWait(bytes: number): boolean {
    return this.waiters.length > 0 || !this.fits(bytes);
  }

  /**
   * Takes `bytes`; waits while they do not fit. Resolves true if it had to wait. Rejects with
   * CANCELLED (or the signal's reason) when `signal` aborts first.
   */
  reserve(bytes: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(signal.reason ?? new TidalError(ErrorCode.Cancelled, 'memory reservation cancelled'));
    if (this.waiters.length === 0 && this.fits(bytes)) {
      this.usedBytes += bytes;
      return Promise.resolve(false);
    }
    return new Promise<boolean>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        resolve: () => resolve(true),
        reject,
        signal,
        onAbort: () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal?.reason ?? new TidalError(ErrorCode.Cancelled, 'memory reservation cancelled'));
          this.wake();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Gives back `bytes` and lets waiting reservations in. */
  release(bytes: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - bytes);
    this.wake();
  }

  private fits(bytes: number): boolean {
    return this.usedBytes === 0 || this.usedBytes + bytes <= this.limitBytes;
  }

  private wake(): void {
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.bytes)) {
      const w = this.waiters.shift()!;
      w.signal?.removeEventListener('abort', w.onAbort);
      this.usedBytes += w.bytes;
      w.resolve();
    }
  }
}
