/**
 * How the master calls DataNodes: {@link DataNodeRpc} is what the channel scheduler needs (watch,
 * release, flush), {@link GrpcDataNodeRpc} does it over gRPC with one connection per node address.
 * Every call names its target node (`base.targetId`), so a node that registered again under a new
 * id at the same address refuses orders meant for its old session.
 */
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { serviceErrorToError, throwIfError } from '../../common/grpc-status.js';
import { MsgType, type MsgBase, type Status } from '../../gen/common.js';
import { DataNodeClient } from '../../gen/datanode.js';
import type { VchannelInfo } from '../../gen/segment.js';

/** A DataNode to call. */
export interface DataNodeTarget {
  nodeId: bigint;
  /** host:port from its session. */
  address: string;
}

/** A flush order for some segments of one vchannel. */
export interface FlushOrder {
  collectionId: bigint;
  vchannel: string;
  segmentIds: bigint[];
  /** The DataNode tick at which the segments became flushable (hybrid ts). */
  flushTs: bigint;
}

/** The DataNode calls the master makes. Each rejects with the TidalError the node (or the transport) reports. */
export interface DataNodeRpc {
  /** WatchDmChannels: start consuming these vchannels (idempotent on the node). */
  watch(node: DataNodeTarget, vchannels: VchannelInfo[]): Promise<void>;
  /** ReleaseDmChannels: stop consuming these vchannels (idempotent on the node). */
  release(node: DataNodeTarget, vchannels: string[]): Promise<void>;
  /** FlushSegments: resolves once the node has flushed them (or failed to). */
  flush(node: DataNodeTarget, order: FlushOrder): Promise<void>;
  /** Drops the connection to a node that left. */
  forget(address: string): void;
  /** Closes every connection. Safe to call twice. */
  close(): void;
}

/** Options of {@link GrpcDataNodeRpc}. */
export interface GrpcDataNodeRpcOptions {
  /** The master's server id (`base.sourceId`). */
  sourceId: bigint;
  /** Deadline of WatchDmChannels and ReleaseDmChannels, ms. Default 30,000. */
  deadlineMs?: number;
  /** Deadline of FlushSegments (a sync may upload a lot), ms. Default 120,000. */
  flushDeadlineMs?: number;
}

type Unary<Req> = (req: Req, metadata: Metadata, options: { deadline: Date }, cb: (err: ServiceError | null, res: Status) => void) => unknown;

/** {@link DataNodeRpc} over gRPC. */
export class GrpcDataNodeRpc implements DataNodeRpc {
  private readonly clients = new Map<string, DataNodeClient>();
  private readonly sourceId: bigint;
  private readonly deadlineMs: number;
  private readonly flushDeadlineMs: number;

  constructor(options: GrpcDataNodeRpcOptions) {
    this.sourceId = options.sourceId;
    this.deadlineMs = options.deadlineMs ?? 30_000;
    this.flushDeadlineMs = options.flushDeadlineMs ?? 120_000;
  }

  watch(node: DataNodeTarget, vchannels: VchannelInfo[]): Promise<void> {
    const client = this.client(node.address);
    return this.status(node, 'WatchDmChannels', client.watchDmChannels.bind(client) as Unary<object>, { base: this.base(node, MsgType.WatchDmChannels), vchannels }, this.deadlineMs);
  }

  release(node: DataNodeTarget, vchannels: string[]): Promise<void> {
    const client = this.client(node.address);
    return this.status(
      node,
      'ReleaseDmChannels',
      client.releaseDmChannels.bind(client) as Unary<object>,
      { base: this.base(node, MsgType.ReleaseDmChannels), channelNames: vchannels },
      this.deadlineMs,
    );
  }

  flush(node: DataNodeTarget, order: FlushOrder): Promise<void> {
    const client = this.client(node.address);
    return this.status(
      node,
      'FlushSegments',
      client.flushSegments.bind(client) as Unary<object>,
      {
        base: this.base(node, MsgType.FlushSegments),
        collectionId: order.collectionId,
        channelName: order.vchannel,
        segmentIds: order.segmentIds,
        flushTs: order.flushTs,
      },
      this.flushDeadlineMs,
    );
  }

  forget(address: string): void {
    this.clients.get(address)?.close();
    this.clients.delete(address);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private client(address: string): DataNodeClient {
    let c = this.clients.get(address);
    if (c === undefined) {
      c = new DataNodeClient(address, credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
      this.clients.set(address, c);
    }
    return c;
  }

  private base(node: DataNodeTarget, msgType: MsgType): MsgBase {
    return { msgType, msgId: 0n, timestamp: 0n, sourceId: this.sourceId, targetId: node.nodeId };
  }

  private status<Req>(node: DataNodeTarget, rpc: string, fn: Unary<Req>, req: Req, deadlineMs: number): Promise<void> {
    const context = { rpc, nodeId: node.nodeId.toString(), address: node.address };
    return new Promise((resolve, reject) => {
      fn(req, new Metadata(), { deadline: new Date(Date.now() + deadlineMs) }, (err, res) => {
        if (err) {
          reject(serviceErrorToError(err, context));
          return;
        }
        try {
          throwIfError(res, context);
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
  }
}
