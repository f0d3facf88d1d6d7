/**
 * Channel naming (DESIGN "Channels and messages"): DML pchannels `{prefix}-dml_{i}` (one Kafka
 * topic each), the DD channel `{prefix}-dd`, and a collection's vchannels
 * `{pchannel}_{collectionID}v{shard}`, which are names only: they live inside their pchannel.
 */
import { errors } from '../../common/errors.js';

/** Kafka's topic-name rule; a prefix must leave room for the longest suffix (`-dml_1023`). */
const PREFIX_RE = /^[A-Za-z0-9._-]{1,200}$/;
/** `{pchannel}_{collectionID}v{shard}`; the pchannel may itself contain `_`. */
const VCHANNEL_RE = /^(.+)_(\d+)v(\d+)$/;

function checkPrefix(prefix: string): void {
  if (typeof prefix !== 'string' || !PREFIX_RE.test(prefix)) {
    throw errors.invalidArgument(`channel prefix must be 1-200 characters of A-Z, a-z, 0-9, ".", "_", "-", got ${JSON.stringify(prefix)}`);
  }
}

/** The DD channel: `{prefix}-dd`. Throws INVALID_ARGUMENT for a bad prefix. */
export function ddChannelName(prefix: string): string {
  checkPrefix(prefix);
  return `${prefix}-dd`;
}

/** DML pchannel number `index`: `{prefix}-dml_{index}`. Throws INVALID_ARGUMENT for a bad prefix or index. */
export function dmlChannelName(prefix: string, index: number): string {
  checkPrefix(prefix);
  if (!Number.isSafeInteger(index) || index < 0) throw errors.invalidArgument(`DML channel index must be a non-negative integer, got ${index}`);
  return `${prefix}-dml_${index}`;
}

/** Every DML pchannel, `{prefix}-dml_0` .. `{prefix}-dml_{count-1}`, in index order. */
export function dmlChannelNames(prefix: string, count: number): string[] {
  if (!Number.isSafeInteger(count) || count < 1) throw errors.invalidArgument(`DML channel count must be a positive integer, got ${count}`);
  return Array.from({ length: count }, (_, i) => dmlChannelName(prefix, i));
}

/** The vchannel of shard `shard` of a collection on `pchannel`: `{pchannel}_{collectionId}v{shard}`. */
export function vchannelName(pchannel: string, collectionId: bigint, shard: number): string {
  if (pchannel === '') throw errors.invalidArgument('pchannel must not be empty');
  if (collectionId < 0n) throw errors.invalidArgument(`collection id must not be negative, got ${collectionId}`);
  if (!Number.isSafeInteger(shard) || shard < 0) throw errors.invalidArgument(`shard must be a non-negative integer, got ${shard}`);
  return `${pchannel}_${collectionId}v${shard}`;
}

/** The parts of a vchannel name. */
export interface VchannelParts {
  pchannel: string;
  collectionId: bigint;
  shard: number;
}

/** Splits a vchannel name into pchannel, collection id and shard. Throws INVALID_ARGUMENT if it is not one. */
export function parseVchannel(vchannel: string): VchannelParts {
  const m = VCHANNEL_RE.exec(vchannel);
  if (m === null) {
    throw errors.invalidArgument(`${JSON.stringify(vchannel)} is not a vchannel name: expected {pchannel}_{collectionID}v{shard}`, { vchannel });
  }
  return { pchannel: m[1] as string, collectionId: BigInt(m[2] as string), shard: Number(m[3]) };
}

/** The pchannel (Kafka topic) a vchannel lives in. Throws INVALID_ARGUMENT if `vchannel` is not a vchannel name. */
export function pchannelOf(vchannel: string): string {
  return parseVchannel(vchannel).pchannel;
}
