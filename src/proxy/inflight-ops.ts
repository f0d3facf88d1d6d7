/**
 * Tracks the proxy's DML operations in flight, to know the lowest timestamp the proxy may still
 * publish (its time tick).
 *
 * An operation is tracked from before it asks for timestamps until its records are in the log (or
 * it failed). Its start timestamp is recorded by {@link InflightOp.allocate}, which attaches the
 * recording directly to the allocator's promise: the allocator answers callers in request order, so
 * when a later request (the ticker's fresh timestamp) is answered, every earlier request's start
 * timestamp is already recorded. Requests are also numbered, and {@link InflightOps.floor} refuses
 * to answer while a request made before the ticker's is still unanswered, so the rule does not rest
 * on promise ordering alone.
 */
import { errors } from '../common/errors.js';

/** One tracked operation. */
export class InflightOp {
  /** Lowest timestamp the operation may publish; undefined until its timestamps arrive. */
  startTs: bigint | undefined;
  /** Number of its first timestamp request; undefined before it asks. */
  requestSeq: number | undefined;
  private done = false;

  constructor(private readonly owner: InflightOps) {}

  /**
   * Asks for the operation's first timestamps through `request` (called at once) and records the
   * first of them as the operation's start. Call once, before any other timestamp request of the
   * operation.
   */
  allocate(request: () => Promise<bigint>): Promise<bigint> {
    if (this.requestSeq !== undefined) throw errors.invalidArgument('an operation allocates its start timestamp once');
    this.requestSeq = this.owner.nextSeq();
    return request().then((ts) => {
      this.startTs = ts;
      return ts;
    });
  }

  /** Stops tracking (the records are in the log, or the operation failed). Safe to call twice. */
  end(): void {
    if (this.done) return;
    this.done = true;
    this.owner.remove(this);
  }
}

/** The set of operations in flight. */
export class InflightOps {
  private readonly ops = new Set<InflightOp>();
  private seq = 0;
  private drained: (() => void)[] = [];

  /** Operations in flight. */
  get size(): number {
    return this.ops.size;
  }

  /** Starts tracking a new operation. */
  begin(): InflightOp {
    const op = new InflightOp(this);
    this.ops.add(op);
    return op;
  }

  /** Number of the next timestamp request (the ticker takes one before its fresh timestamp). */
  nextSeq(): number {
    return ++this.seq;
  }

  /**
   * The tick the proxy can promise, given a fresh timestamp `freshTs` requested as number
   * `freshSeq`: the lowest start timestamp in flight, or `freshTs` when that is lower or nothing is
   * in flight. Undefined when an operation that asked before `freshSeq` has no timestamp yet (its
   * start could be below `freshTs`): skip this round.
   */
  floor(freshTs: bigint, freshSeq: number): bigint | undefined {
    let min = freshTs;
    for (const op of this.ops) {
      if (op.startTs === undefined) {
        if (op.requestSeq !== undefined && op.requestSeq < freshSeq) return undefined;
        // Not asked yet, or asked after the fresh timestamp: its start will be above freshTs.
        continue;
      }
      if (op.startTs < min) min = op.startTs;
    }
    return min;
  }

  /** Resolves once nothing is in flight. */
  whenIdle(): Promise<void> {
    if (this.ops.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  /** @internal */
  remove(op: InflightOp): void {
    this.ops.delete(op);
    if (this.ops.size === 0) for (const resolve of this.drained.splice(0)) resolve();
  }
}
