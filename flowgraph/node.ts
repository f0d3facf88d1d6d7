/**
 * A flowgraph node: one stage of a pipeline. The graph calls `operate` with one batch at a time, in
 * order, never concurrently for the same node, and hands what it returns to the next node.
 */

/** What the graph passes to every `operate` call. */
export interface OperateContext {
  /** The graph's name (for a DataNode: the vchannel). */
  readonly graph: string;
  /** This node's name. */
  readonly node: string;
  /**
   * Aborted when the graph gives up on in-flight work: `close()` passed its drain bound, or another
   * node failed. A long operate (an upload, a wait for memory) should pass it on and stop early; its
   * result is discarded once the signal is aborted.
   */
  readonly signal: AbortSignal;
}

/**
 * One stage of a flowgraph, taking batches of `In` and producing batches of `Out`.
 *
 * `operate` is a property (not a method) so that TypeScript checks node types strictly when
 * {@link FlowGraph.assemble} chains them: a node that takes `Out` of the previous one fits, another
 * does not. A class may still implement it as a method.
 */
export interface Node<In, Out> {
  /** Unique within its graph; used in stats and error messages. */
  readonly name: string;
  /**
   * Handles one batch (never empty) and returns the messages for the next node: an empty array
   * forwards nothing (a filter), several messages are forwarded as one batch. May be sync or async.
   * Throwing fails the whole graph (see {@link FlowGraph.done}).
   */
  readonly operate: (msgs: readonly In[], ctx: OperateContext) => readonly Out[] | Promise<readonly Out[]>;
  /** Called once, in pipeline order, before the first batch. Throwing fails the graph's start. */
  readonly start?: () => void | Promise<void>;
  /**
   * Called once when the graph stops (after draining, or after its drain bound), in pipeline order,
   * only if `start` succeeded (or there was none). A throw is reported, and later nodes still close.
   */
  readonly close?: () => void | Promise<void>;
}

/** Optional lifecycle hooks for {@link node}. */
export interface NodeHooks {
  start?: () => void | Promise<void>;
  close?: () => void | Promise<void>;
}

/**
 * A node from a function, for stages that need no class:
 * `node('double', (xs: readonly number[]) => xs.map((x) => x * 2))`.
 */
export function node<In, Out>(
  name: string,
  operate: (msgs: readonly In[], ctx: OperateContext) => readonly Out[] | Promise<readonly Out[]>,
  hooks: NodeHooks = {},
): Node<In, Out> {
  return { name, operate, ...hooks };
}
