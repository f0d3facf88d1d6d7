/**
 * An in-process cluster for the data-path tests, on the embedded backends (MemoryKV,
 * MemoryMsgStream, LocalObjectStore in a temp dir): a real MasterServer (its scheduler assigns the
 * vchannels, its Flush seals and orders flushes, its SaveBinlogPaths checks ownership), DataNodes
 * as real DataNodeServers (gRPC, sessions) whose channel manager is the real DataPath, and a
 * master client. Nothing is faked; only the backends are the embedded ones.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC, type Table } from 'apache-arrow';
import { loadConfig, type TidalConfig, type TidalConfigInput } from '../../../src/common/config.js';
import { silentLogger } from '../../../src/common/log.js';
import { DataPath, type DataPathMaster, type DataPathOptions } from '../../../src/datanode/data-path.js';
import { pchannelOf } from '../../../src/datanode/pipeline/messages.js';
import { DataNodeServer } from '../../../src/datanode/server.js';
import { MsgPosition } from '../../../src/gen/common.js';
import type { CollectionSchema } from '../../../src/gen/schema.js';
import type { SegmentInfo } from '../../../src/gen/segment.js';
import { MemoryKV } from '../../../src/kv/embedded/memory-kv.js';
import { MasterServer } from '../../../src/master/server.js';
import { MemoryMsgStream, type Position } from '../../../src/mq/index.js';
import { MasterClient } from '../../../src/proxy/master-client.js';
import { LocalObjectStore } from '../../../src/storage/local/local-object-store.js';
import type { ObjectStore } from '../../../src/storage/object-store.js';
import { insertPayload, waitFor } from './helpers.js';

/** A DataNode of the cluster. */
export interface TestNode {
  server: DataNodeServer;
  dataPath: DataPath;
}

/** Options of {@link Cluster.start}. */
export interface ClusterOptions {
  config?: TidalConfigInput;
  /** Wraps the object store the DataNodes use (to inject failures or delays). */
  wrapStore?: (store: ObjectStore) => ObjectStore;
  /** Wraps the DataNodes' link to the master (to inject failures or delays). */
  wrapMaster?: (master: DataPathMaster) => DataPathMaster;
  dataPath?: Partial<DataPathOptions>;
}

/** Master + DataNodes on shared embedded backends. */
export class Cluster {
  readonly nodes: TestNode[] = [];

  private constructor(
    readonly config: TidalConfig,
    readonly kv: MemoryKV,
    readonly stream: MemoryMsgStream,
    readonly store: LocalObjectStore,
    readonly dir: string,
    readonly master: MasterServer,
    readonly client: MasterClient,
    private readonly options: ClusterOptions,
  ) {}

  /** Starts the master (waits until it leads). */
  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const base: TidalConfigInput = {
      master: {
        host: '127.0.0.1',
        port: 0,
        dmlChannelNum: 1,
        timeTickIntervalMs: 50,
        sessionTtlMs: 2_000,
        segment: { allocationExpireMs: 300 },
      },
      datanode: { host: '127.0.0.1', port: 0, sessionTtlMs: 2_000 },
      log: { level: 'silent' },
    };
    const merged = mergeDeep(base as Record<string, unknown>, (options.config ?? {}) as Record<string, unknown>) as TidalConfigInput;
    const config = loadConfig({ env: {}, overrides: merged });
    const kv = new MemoryKV();
    const stream = new MemoryMsgStream();
    const dir = mkdtempSync(join(tmpdir(), 'tidal-dn-'));
    const store = new LocalObjectStore({ rootDir: dir });
    const master = await MasterServer.start({ config, logger: silentLogger, kv, stream });
    await master.waitUntilLeader(20_000);
    const client = new MasterClient(`127.0.0.1:${master.port}`, { deadlineMs: 30_000 });
    return new Cluster(config, kv, stream, store, dir, master, client, options);
  }

  /** Starts a DataNode running a DataPath (`wrapMaster`: this node's own wrapper, over the cluster's). */
  async startNode(extra: Partial<DataPathOptions> = {}, wrapMaster?: (master: DataPathMaster) => DataPathMaster): Promise<TestNode> {
    let dataPath!: DataPath;
    const store = this.options.wrapStore?.(this.store) ?? this.store;
    const server = await DataNodeServer.start({
      config: this.config,
      logger: silentLogger,
      kv: this.kv,
      stream: this.stream,
      store,
      grpcGraceMs: 500,
      channels: (deps) =>
        (dataPath = new DataPath({
          stream: deps.stream,
          store: deps.store,
          master: (wrapMaster ?? ((m: DataPathMaster) => m))(this.options.wrapMaster?.(deps.master) ?? deps.master),
          config: deps.config.datanode,
          nodeId: deps.nodeId,
          logger: deps.logger,
          tickReportIntervalMs: 50,
          ...this.options.dataPath,
          ...extra,
        })),
    });
    const node = { server, dataPath };
    this.nodes.push(node);
    return node;
  }

  /** Creates a collection and waits until DataNodes watch all its vchannels. */
  async createCollection(schema: CollectionSchema, shardsNum: number): Promise<{ collectionId: bigint; vchannels: string[] }> {
    const res = await this.client.call('createCollection', { collectionName: schema.name, schema, shardsNum });
    await waitFor('vchannels watched', () => {
      const watched = new Set(this.nodes.flatMap((n) => n.dataPath.status().map((s) => s.vchannel)));
      return res.vchannels.every((v) => watched.has(v));
    });
    return { collectionId: res.collectionId, vchannels: res.vchannels };
  }

  /** A segment for `count` rows on `vchannel` (the master's segment manager). */
  async assign(collectionId: bigint, vchannel: string, count: number, partitionName = ''): Promise<{ segmentId: bigint; partitionId: bigint }> {
    const res = await this.client.call('assignSegmentId', { segmentIdRequests: [{ count, channelName: vchannel, collectionId, partitionName }] });
    const a = res.segIdAssignments[0]!;
    return { segmentId: a.segmentId, partitionId: a.partitionId };
  }

  /** A fresh TSO timestamp. */
  async ts(): Promise<bigint> {
    return (await this.client.call('allocTimestamp', { count: 1 })).timestamp;
  }

  /**
   * Produces one Insert message of `pks` into a fresh segment allocation on `vchannel` (in the
   * default partition unless `partitionName` is given); returns
   * its position and the segment.
   */
  async insert(
    schema: CollectionSchema,
    collectionId: bigint,
    vchannel: string,
    pks: readonly bigint[],
    partitionName = '',
  ): Promise<{ position: Position; segmentId: bigint; ts: bigint }> {
    const { segmentId, partitionId } = await this.assign(collectionId, vchannel, pks.length, partitionName);
    const ts = await this.ts();
    const msg = insertPayload({ schema, collectionId, partitionId, segmentId, vchannel, pks, ts });
    const [position] = await this.stream.produce(pchannelOf(vchannel)!, [msg]);
    return { position: position!, segmentId, ts };
  }

  /** Flushes a collection (returns once its sealed segments are Flushed). */
  async flush(collectionId: bigint): Promise<void> {
    await this.client.call('flush', { collectionId });
  }

  /** The collection's segments with their binlogs. */
  async segments(collectionId: bigint): Promise<SegmentInfo[]> {
    return (await this.client.call('showSegments', { collectionId, includeBinlogs: true })).segments;
  }

  /** The channel checkpoint the master stored for `vchannel`. */
  async checkpoint(vchannel: string): Promise<MsgPosition | undefined> {
    const kv = await this.kv.get(`channel/checkpoint/${vchannel}`);
    return kv === undefined ? undefined : MsgPosition.decode(kv.value);
  }

  /** Reads an object as an Arrow table (with plain apache-arrow, as any Arrow reader would). */
  async readArrow(key: string): Promise<Table> {
    return tableFromIPC(await this.store.get(key));
  }

  /** Stops every node, the master and the backends; removes the temp dir. */
  async close(): Promise<void> {
    for (const n of this.nodes) await n.server.close().catch(() => undefined);
    this.client.close();
    await this.master.close();
    await this.stream.close();
    await this.store.close();
    await this.kv.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function mergeDeep(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    const cur = out[k];
    const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
    out[k] = isObj(cur) && isObj(v) ? mergeDeep(cur, v) : v;
  }
  return out;
}
