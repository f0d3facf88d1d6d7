/**
 * The JSON shapes `--output json` prints: the API's field names (camelCase), every field present
 * (defaults included, unlike proto3 JSON), enums as names, timestamps as decimal strings plus an
 * ISO time where a person may read them.
 */
import type { MsgPosition } from '../gen/common.js';
import { dataTypeToJSON, type CollectionSchema, type FieldSchema } from '../gen/schema.js';
import { segmentStateToJSON, type Binlog, type SegmentInfo } from '../gen/segment.js';
import { formatTs } from './output.js';

/** A position: channel, offset, timestamp and its time. */
export function positionView(p: MsgPosition | undefined): Record<string, unknown> | null {
  if (p === undefined) return null;
  return { channelName: p.channelName, msgId: p.msgId, timestamp: p.timestamp, time: formatTs(p.timestamp) };
}

/** A field of a schema. */
export function fieldView(f: FieldSchema): Record<string, unknown> {
  return {
    fieldId: f.fieldId,
    name: f.name,
    dataType: dataTypeToJSON(f.dataType),
    isPrimaryKey: f.isPrimaryKey,
    autoId: f.autoId,
    dim: f.dim,
    maxLength: f.maxLength,
    nullable: f.nullable,
    description: f.description,
  };
}

/** A schema. */
export function schemaView(s: CollectionSchema | undefined): Record<string, unknown> | null {
  if (s === undefined) return null;
  return { name: s.name, description: s.description, version: s.version, fields: s.fields.map(fieldView) };
}

/** A binlog entry. */
export function binlogView(b: Binlog): Record<string, unknown> {
  return {
    logId: b.logId,
    logPath: b.logPath,
    entriesNum: b.entriesNum,
    logSize: b.logSize,
    timestampFrom: b.timestampFrom,
    timestampTo: b.timestampTo,
    schemaVersion: b.schemaVersion,
    startPosition: positionView(b.startPosition),
    endPosition: positionView(b.endPosition),
  };
}

/** A segment, with its binlogs when `binlogs`. */
export function segmentView(s: SegmentInfo, binlogs: boolean): Record<string, unknown> {
  const base: Record<string, unknown> = {
    segmentId: s.segmentId,
    collectionId: s.collectionId,
    partitionId: s.partitionId,
    insertChannel: s.insertChannel,
    state: segmentStateToJSON(s.state),
    numRows: s.numRows,
    maxRowNum: s.maxRowNum,
    lastExpireTime: s.lastExpireTime,
    schemaVersion: s.schemaVersion,
    startPosition: positionView(s.startPosition),
    dmlPosition: positionView(s.dmlPosition),
  };
  if (binlogs) {
    base.insertLogs = s.insertLogs.map(binlogView);
    base.statsLogs = s.statsLogs.map(binlogView);
    base.deltaLogs = s.deltaLogs.map(binlogView);
  }
  return base;
}
