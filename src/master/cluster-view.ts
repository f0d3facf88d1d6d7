/**
 * What operators ask the serving master about the cluster (ShowChannels, ShowNodes): every
 * vchannel with its owner, checkpoint and lag, and the live masters and DataNodes. Read-only: it
 * assembles the channel scheduler's records, the stored channel checkpoints, the message log's
 * offsets and the sessions in the KV.
 */
import { errors } from '../common/errors.js';
import { parseTs } from '../common/hybrid-ts.js';
import type { ChannelStatus, NodeStatus } from '../gen/master.js';
import type { CollectionInfo } from '../gen/meta.js';
import type { MetaKV } from '../kv/meta-kv.js';
import type { MsgStream } from '../mq/msg-stream.js';
import { MASTER_ELECTION_KEY } from './election/leader-election.js';
import type { MasterCore } from './master-core.js';

/** Key prefix of master sessions `session/master/{id}` → `{"serverId", "address"}` (same layout as DataNodes'). */
export const MASTER_SESSION_PREFIX = 'session/master/';

/** Node roles ShowNodes knows. */
export const NODE_ROLES = ['master', 'datanode'] as const;
/** A node role. */
export type NodeRole = (typeof NODE_ROLES)[number];

/** What the cluster view reads. */
export interface ClusterViewDeps {
  core: MasterCore;
  kv: MetaKV;
  stream: MsgStream;
  /** The master answering, and where it listens. */
  self: { serverId: bigint; address: string; leader: boolean };
  /** Wall clock, ms (the lag in time is measured against it). Default Date.now. */
  now?: () => number;
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The vchannels of `collections` (all live collections when undefined), ordered by collection name
 * then vchannel. Throws BACKEND_UNAVAILABLE (or the KV's / the log's error) when the checkpoints or
 * the pchannel offsets cannot be read.
 */
export async function showChannels(deps: ClusterViewDeps, collections?: readonly CollectionInfo[]): Promise<ChannelStatus[]> {
  const { core, stream } = deps;
  const now = (deps.now ?? Date.now)();
  const list = [...(collections ?? core.meta.listCollections())].sort((a, b) => byString(a.name, b.name));
  const live = new Map(core.channels.dataNodes().map((n) => [n.nodeId, n.address]));
  const latest = new Map<string, Promise<bigint>>();
  const latestOf = (pchannel: string) => {
    let p = latest.get(pchannel);
    if (p === undefined) {
      p = stream.offsets(pchannel).then((o) => o.latest);
      latest.set(pchannel, p);
    }
    return p;
  };
  const out: ChannelStatus[] = [];
  for (const coll of list) {
    const rows = await Promise.all(
      coll.vchannels.map(async (vchannel, i): Promise<ChannelStatus> => {
        const pchannel = coll.pchannels[i] ?? '';
        const [stored, latestOffset] = await Promise.all([core.progress.checkpoint(vchannel), latestOf(pchannel)]);
        const checkpoint = stored ?? coll.startPositions[i];
        const owner = core.channels.owner(vchannel);
        const lagMessages = checkpoint === undefined ? latestOffset : latestOffset - 1n - checkpoint.msgId;
        const lagMs = checkpoint === undefined || checkpoint.timestamp === 0n ? 0 : Math.max(0, now - parseTs(checkpoint.timestamp).physicalMs);
        return {
          vchannel,
          pchannel,
          collectionId: coll.id,
          collectionName: coll.name,
          nodeId: owner?.nodeId ?? 0n,
          nodeAddress: owner === undefined ? '' : (live.get(owner.nodeId) ?? ''),
          checkpoint,
          checkpointStored: stored !== undefined,
          latestOffset,
          lagMessages: lagMessages < 0n ? 0n : lagMessages,
          lagMs: BigInt(lagMs),
        };
      }),
    );
    out.push(...rows.sort((a, b) => byString(a.vchannel, b.vchannel)));
  }
  return out;
}

function parseSession(value: Buffer): { serverId: bigint; address: string } | undefined {
  try {
    const v = JSON.parse(value.toString('utf8')) as { serverId?: unknown; address?: unknown };
    if (typeof v.serverId !== 'string' || !/^\d+$/.test(v.serverId) || typeof v.address !== 'string') return undefined;
    return { serverId: BigInt(v.serverId), address: v.address };
  } catch {
    // Not a session written by Tidal: left out of the list.
    return undefined;
  }
}

/**
 * The live nodes of `role` (both roles when undefined): masters (the elected leader, this master,
 * and any master with a session under `session/master/`), then DataNodes with the vchannels they
 * own. Throws INVALID_ARGUMENT for an unknown role and the KV's errors.
 */
export async function showNodes(deps: ClusterViewDeps, role?: string): Promise<NodeStatus[]> {
  if (role !== undefined && !(NODE_ROLES as readonly string[]).includes(role)) {
    throw errors.invalidArgument(`role must be one of ${NODE_ROLES.join(', ')} (or empty for both), got ${JSON.stringify(role)}`);
  }
  const out: NodeStatus[] = [];
  if (role === undefined || role === 'master') {
    const masters = new Map<bigint, NodeStatus>();
    const add = (serverId: bigint, address: string) => {
      if (!masters.has(serverId)) masters.set(serverId, { nodeId: serverId, role: 'master', address, leader: false, channels: [] });
    };
    for (const kv of (await deps.kv.range(MASTER_SESSION_PREFIX)).kvs) {
      const s = parseSession(kv.value);
      if (s !== undefined) add(s.serverId, s.address);
    }
    add(deps.self.serverId, deps.self.address);
    const election = await deps.kv.get(MASTER_ELECTION_KEY);
    const leader = election === undefined ? undefined : parseSession(election.value);
    if (leader !== undefined) {
      add(leader.serverId, leader.address);
      masters.get(leader.serverId)!.leader = true;
    }
    out.push(...[...masters.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1)));
  }
  if (role === undefined || role === 'datanode') {
    const owned = new Map<bigint, string[]>();
    for (const a of deps.core.channels.assignments()) owned.set(a.nodeId, [...(owned.get(a.nodeId) ?? []), a.vchannel]);
    for (const n of deps.core.channels.dataNodes()) {
      out.push({ nodeId: n.nodeId, role: 'datanode', address: n.address, leader: false, channels: (owned.get(n.nodeId) ?? []).sort(byString) });
    }
  }
  return out;
}
