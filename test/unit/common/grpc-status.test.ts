import { readFileSync } from 'node:fs';
import { Metadata, Server, ServerCredentials, credentials, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode as ProtoErrorCode, Status as ProtoStatusMsg } from '../../../src/gen/common.js';
import { DataNodeClient, DataNodeService, type DataNodeServer, type GetStatusResponse } from '../../../src/gen/datanode.js';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';
import {
  ERROR_CODE_METADATA_KEY,
  ERROR_CODE_TABLE,
  GRPC_TO_ERROR_CODE,
  errorCodeFromGrpc,
  errorToServiceError,
  errorToStatus,
  isSuccess,
  serviceErrorToError,
  statusToError,
  successStatus,
  throwIfError,
} from '../../../src/common/grpc-status.js';

const ALL_CODES = Object.values(ErrorCode);
const KEY_OF = new Map(Object.entries(ErrorCode).map(([k, v]) => [v, k]));
const DOC = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

/** Rows of the first markdown table after `heading`, as arrays of trimmed cells without backticks. */
function tableAfter(heading: string): string[][] {
  const lines = DOC.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  expect(start, `docs/errors.md has no "${heading}"`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('|')) {
      inTable = true;
      rows.push(line.split('|').slice(1, -1).map((c) => c.trim().replaceAll('`', '')));
    } else if (inTable) break;
  }
  return rows.slice(2); // header and separator
}

function defaultRetriable(code: ErrorCode): boolean {
  return new TidalError(code, 'x').retriable;
}

describe('grpc-status table', () => {
  it('grpc-status - every ErrorCode has a row, proto names match, proto numbers are unique', () => {
    expect(Object.keys(ERROR_CODE_TABLE).sort()).toEqual([...ALL_CODES].sort());
    for (const code of ALL_CODES) {
      const key = KEY_OF.get(code) as keyof typeof ProtoErrorCode;
      expect(ERROR_CODE_TABLE[code].proto, code).toBe(ProtoErrorCode[key]);
    }
    const protos = ALL_CODES.map((c) => ERROR_CODE_TABLE[c].proto);
    expect(new Set(protos).size).toBe(ALL_CODES.length);
    expect(protos).not.toContain(ProtoErrorCode.Success);
  });

  it('grpc-status - docs/errors.md lists every code once with its proto code, gRPC status and retriability', () => {
    const rows = tableAfter('## Codes');
    expect(rows.map((r) => r[0]).sort()).toEqual([...ALL_CODES].sort());
    for (const [code, proto, grpc, retriable, meaning] of rows) {
      const c = code as ErrorCode;
      const m = ERROR_CODE_TABLE[c];
      expect(proto, code).toBe(`${ProtoErrorCode[m.proto]} = ${m.proto}`);
      expect(grpc, code).toBe(`${GrpcStatus[m.grpc]} (${m.grpc})`);
      expect(retriable, code).toBe(defaultRetriable(c) ? 'yes' : 'no');
      expect(meaning?.length ?? 0, code).toBeGreaterThan(10);
    }
  });

  it('grpc-status - docs/errors.md lists the mapping of every gRPC status without a Tidal code', () => {
    const rows = tableAfter('## gRPC errors without a Tidal code');
    const expected = Object.entries(GRPC_TO_ERROR_CODE).map(([g, code]) => [GrpcStatus[Number(g)], code]);
    expect(rows.map((r) => [r[0], r[1]]).sort()).toEqual(expected.sort());
    // Every gRPC status but OK is covered.
    expect(rows.length).toBe(Object.keys(GrpcStatus).filter((k) => Number.isNaN(Number(k))).length - 1);
  });
});

describe('grpc-status conversions', () => {
  it('grpc-status - every code round-trips through an encoded proto Status', () => {
    for (const code of ALL_CODES) {
      for (const retriable of [true, false]) {
        const err = new TidalError(code, `failed: ${code}`, { retriable });
        const wire = ProtoStatusMsg.encode(errorToStatus(err)).finish();
        const back = statusToError(ProtoStatusMsg.decode(wire), { rpc: 'Test' });
        expect(back).toBeInstanceOf(TidalError);
        expect(back?.code).toBe(code);
        expect(back?.message).toBe(`failed: ${code}`);
        expect(back?.retriable).toBe(retriable);
        expect(back?.context).toEqual({ rpc: 'Test' });
      }
    }
  });

  it('grpc-status - every code round-trips through a ServiceError', () => {
    for (const code of ALL_CODES) {
      const err = new TidalError(code, `boom ${code}`, { retriable: !defaultRetriable(code) });
      const se = errorToServiceError(err);
      expect(se.code).toBe(ERROR_CODE_TABLE[code].grpc);
      const back = serviceErrorToError(se);
      expect(back.code).toBe(code);
      expect(back.message).toBe(`boom ${code}`);
      expect(back.retriable).toBe(!defaultRetriable(code));
    }
  });

  it('grpc-status - success is no error; a missing or unknown status is INTERNAL', () => {
    expect(statusToError(successStatus())).toBeUndefined();
    expect(isSuccess(successStatus())).toBe(true);
    expect(isSuccess(undefined)).toBe(false);
    expect(() => throwIfError(successStatus())).not.toThrow();
    expect(statusToError(undefined)?.code).toBe(ErrorCode.Internal);
    const future = statusToError({ code: 99 as ProtoErrorCode, reason: 'from the future', retriable: true });
    expect(future?.code).toBe(ErrorCode.Internal);
    expect(future?.message).toContain('from the future');
    let thrown: unknown;
    try {
      throwIfError({ code: ProtoErrorCode.NotFound, reason: 'no such collection', retriable: false });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TidalError);
    expect((thrown as TidalError).code).toBe(ErrorCode.NotFound);
    expect((thrown as TidalError).message).toBe('no such collection');
  });

  it('grpc-status - a non-Tidal exception becomes INTERNAL, not retriable', () => {
    const status = errorToStatus(new RangeError('index 7 out of bounds'));
    expect(status.code).toBe(ProtoErrorCode.Internal);
    expect(status.reason).toContain('index 7 out of bounds');
    expect(status.retriable).toBe(false);
    expect(errorToServiceError('weird').code).toBe(GrpcStatus.INTERNAL);
  });

  it('grpc-status - a gRPC error without Tidal metadata maps from its status', () => {
    const unavailable = serviceErrorToError({ code: GrpcStatus.UNAVAILABLE, details: 'No connection established', metadata: new Metadata() });
    expect(unavailable.code).toBe(ErrorCode.Unavailable);
    expect(unavailable.retriable).toBe(true);
    expect(unavailable.message).toBe('No connection established');
    expect(serviceErrorToError({ code: GrpcStatus.DEADLINE_EXCEEDED, details: '' }).code).toBe(ErrorCode.Timeout);
    expect(serviceErrorToError({ code: GrpcStatus.UNIMPLEMENTED, details: 'x' }).code).toBe(ErrorCode.FailedPrecondition);
    expect(errorCodeFromGrpc(GrpcStatus.OK)).toBeUndefined();
    // Garbage in the metadata is ignored rather than trusted.
    const md = new Metadata();
    md.set(ERROR_CODE_METADATA_KEY, 'NOT_A_CODE');
    expect(serviceErrorToError({ code: GrpcStatus.NOT_FOUND, details: 'x', metadata: md }).code).toBe(ErrorCode.NotFound);
  });
});

const retriableFor = (i: number): boolean => Math.floor(i / 2) % 2 === 0;

describe('grpc-status over a real gRPC call', () => {
  let server: Server;
  let client: DataNodeClient;
  // GetStatus fails with the error named by base.msgId: code ALL_CODES[id / 2], odd ids as a gRPC
  // error, even ids in the response Status; retriable for every other code.
  const impl: DataNodeServer = {
    watchDmChannels: (_call, cb) => cb(null, successStatus()),
    releaseDmChannels: (_call, cb) => cb(null, successStatus()),
    flushSegments: (_call, cb) => cb(null, successStatus()),
    getStatus: (call, cb) => {
      const i = Number(call.request.base?.msgId ?? 0n);
      const code = ALL_CODES[Math.floor(i / 2)] as ErrorCode;
      const err = new TidalError(code, `remote ${code}`, { retriable: retriableFor(i) });
      if (i % 2 === 1) cb(errorToServiceError(err));
      else cb(null, { status: errorToStatus(err), nodeId: 7n, state: 0, channels: [], memoryUsedBytes: 0n });
    },
  };

  beforeAll(async () => {
    server = new Server();
    server.addService(DataNodeService, impl);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    client = new DataNodeClient(`127.0.0.1:${port}`, credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await new Promise<void>((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
  });

  function call(i: number): Promise<{ err: ServiceError | null; res: GetStatusResponse | undefined }> {
    return new Promise((resolve) =>
      client.getStatus({ base: { msgType: 0, msgId: BigInt(i), timestamp: 0n, sourceId: 0n, targetId: 0n } }, (err, res) =>
        resolve({ err, res }),
      ),
    );
  }

  it('grpc-status - every code arrives intact, in the response Status and as a gRPC error', async () => {
    for (let i = 0; i < ALL_CODES.length * 2; i += 1) {
      const code = ALL_CODES[Math.floor(i / 2)] as ErrorCode;
      const { err, res } = await call(i);
      const back = err ? serviceErrorToError(err) : statusToError(res?.status);
      if (i % 2 === 1) {
        expect(err?.code, code).toBe(ERROR_CODE_TABLE[code].grpc);
      } else {
        expect(err).toBeNull();
        expect(res?.nodeId).toBe(7n);
      }
      expect(back?.code, `call ${i}`).toBe(code);
      expect(back?.message).toBe(`remote ${code}`);
      expect(back?.retriable).toBe(retriableFor(i));
    }
  });
});
