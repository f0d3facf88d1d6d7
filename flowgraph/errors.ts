/**
 * The flowgraph's one error class. The engine imports nothing from `src/`, so it cannot throw
 * Tidal's TidalError; its codes reuse Tidal's names where they mean the same thing, so the DataNode
 * can map a FlowgraphError onto a TidalError by `code` without reading the message.
 */

/** Stable codes of {@link FlowgraphError}. Branch on these, never on the message text. */
export const FlowgraphErrorCode = {
  /** A node threw from `start()`, `operate()` or `close()`, or returned something that is not an array. */
  NodeFailed: 'NODE_FAILED',
  /** An option or argument is outside what is allowed. */
  InvalidArgument: 'INVALID_ARGUMENT',
  /** The call does not fit the graph's state (start before assemble, assemble twice, push to a pull input). */
  FailedPrecondition: 'FAILED_PRECONDITION',
  /** The graph is closing or closed: it takes no more input. */
  Closed: 'CLOSED',
} as const;

/** One of the {@link FlowgraphErrorCode} values. */
export type FlowgraphErrorCode = (typeof FlowgraphErrorCode)[keyof typeof FlowgraphErrorCode];

/** Where in a node's life an error happened: `read` is the input taking a batch from its source. */
export type NodePhase = 'start' | 'read' | 'operate' | 'close';

/** Context of a {@link FlowgraphError}. */
export interface FlowgraphErrorOptions {
  /** The graph's name (for a DataNode: the vchannel). */
  graph: string;
  /** The node that failed, when a node did. */
  node?: string;
  /** What the node was doing. */
  phase?: NodePhase;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * An error from the flowgraph engine. `code` is stable; `graph` and `node` name where it happened;
 * `cause` holds what a node threw. Never retriable by itself: a failed graph stays failed, and the
 * owner builds a new one (the DataNode re-watches the vchannel from its checkpoint).
 */
export class FlowgraphError extends Error {
  override readonly name = 'FlowgraphError';
  readonly code: FlowgraphErrorCode;
  readonly graph: string;
  readonly node: string | undefined;
  readonly phase: NodePhase | undefined;
  /** Always false: retrying the same graph cannot help. */
  readonly retriable = false;

  constructor(code: FlowgraphErrorCode, message: string, options: FlowgraphErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.graph = options.graph;
    this.node = options.node;
    this.phase = options.phase;
  }

  /** The error for node `node` of graph `graph` throwing `cause` during `phase`. */
  static nodeFailed(graph: string, node: string, phase: NodePhase, cause: unknown): FlowgraphError {
    return new FlowgraphError(
      FlowgraphErrorCode.NodeFailed,
      `flowgraph "${graph}": node "${node}" failed in ${phase}: ${describe(cause)}`,
      { graph, node, phase, cause },
    );
  }
}

/** The message of an unknown thrown value, for error text. */
function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  try {
    return String(cause);
  } catch {
    // A value whose toString throws still must not hide the node's failure.
    return 'non-error value thrown';
  }
}
