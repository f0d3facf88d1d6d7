/**
 * A promise-based client of the Master service. Every call resolves with the response when its
 * status is Success and rejects with the TidalError the status stands for otherwise (transport
 * failures become TidalErrors too), so callers handle one kind of failure.
 */
import { credentials, type handleUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { serviceErrorToError, throwIfError } from '../common/grpc-status.js';
import type { Status } from '../gen/common.js';
import * as m from '../gen/master.js';
import { MasterClient as GrpcMasterClient } from '../gen/master.js';

/** The request message of each method, to fill unset fields with their defaults. */
const REQUEST_TYPES = {
  createCollection: m.CreateCollectionRequest,
  dropCollection: m.DropCollectionRequest,
  hasCollection: m.HasCollectionRequest,
  describeCollection: m.DescribeCollectionRequest,
  showCollections: m.ShowCollectionsRequest,
  createPartition: m.CreatePartitionRequest,
  dropPartition: m.DropPartitionRequest,
  hasPartition: m.HasPartitionRequest,
  showPartitions: m.ShowPartitionsRequest,
  describeSegment: m.DescribeSegmentRequest,
  showSegments: m.ShowSegmentsRequest,
  createIndex: m.CreateIndexRequest,
  describeIndex: m.DescribeIndexRequest,
  allocTimestamp: m.AllocTimestampRequest,
  allocId: m.AllocIDRequest,
  assignSegmentId: m.AssignSegmentIDRequest,
  getDdChannel: m.GetDdChannelRequest,
  flush: m.FlushRequest,
  getSysConfigs: m.GetSysConfigsRequest,
  registerProxy: m.RegisterProxyRequest,
  deregisterProxy: m.DeregisterProxyRequest,
  reportProxyTimeTick: m.ReportProxyTimeTickRequest,
  saveBinlogPaths: m.SaveBinlogPathsRequest,
  reportTimeTick: m.ReportTimeTickRequest,
  getRecoveryInfo: m.GetRecoveryInfoRequest,
  showChannels: m.ShowChannelsRequest,
  showNodes: m.ShowNodesRequest,
  ping: m.PingRequest,
} as const;

/** A Master RPC, by the generated client's method name. */
export type MasterMethod = keyof typeof REQUEST_TYPES;
type ReqOf<K extends MasterMethod> = ReturnType<(typeof REQUEST_TYPES)[K]['fromPartial']>;
type ResOf<K extends MasterMethod> = m.MasterServer[K] extends handleUnaryCall<infer _Q, infer S> ? S : never;

/** A request with any field left out (it takes its proto default). */
export type PartialRequest<K extends MasterMethod> = Parameters<(typeof REQUEST_TYPES)[K]['fromPartial']>[0];

/** Options of {@link MasterClient}. */
export interface MasterClientOptions {
  /** Per-call deadline, ms. Default 30,000. */
  deadlineMs?: number;
}

/** A connection to one master (`host:port`). */
export class MasterClient {
  private readonly client: GrpcMasterClient;
  private readonly deadlineMs: number;

  constructor(
    readonly address: string,
    options: MasterClientOptions = {},
  ) {
    this.client = new GrpcMasterClient(address, credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
    this.deadlineMs = options.deadlineMs ?? 30_000;
  }

  /**
   * Calls `method` (the generated client's method name, e.g. 'allocTimestamp') and returns the
   * response, or throws the TidalError its status (or the transport) reports.
   */
  call<K extends MasterMethod>(method: K, partial: PartialRequest<K>): Promise<ResOf<K>> {
    const request = (REQUEST_TYPES[method].fromPartial as (o: unknown) => ReqOf<K>)(partial);
    return new Promise((resolve, reject) => {
      const fn = this.client[method] as unknown as (
        req: ReqOf<K>,
        options: { deadline: Date },
        cb: (err: ServiceError | null, res: ResOf<K>) => void,
      ) => unknown;
      fn.call(this.client, request, { deadline: new Date(Date.now() + this.deadlineMs) }, (err, res) => {
        if (err) {
          reject(serviceErrorToError(err, { rpc: method, address: this.address }));
          return;
        }
        try {
          const status = (res as { status?: Status; code?: unknown }).code !== undefined ? (res as unknown as Status) : (res as { status?: Status }).status;
          throwIfError(status, { rpc: method, address: this.address });
          resolve(res);
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  /** Closes the channel. Safe to call twice. */
  close(): void {
    this.client.close();
  }
}
