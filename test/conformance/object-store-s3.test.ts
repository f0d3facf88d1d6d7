/**
 * What only S3ObjectStore does: its retry policy, bucket creation, error mapping and secret
 * hygiene. Real servers only: the S3 server of this test run, a loopback port where nothing
 * listens, and a small fault-injecting HTTP proxy in front of the real server (the SDK client is
 * never mocked).
 */
import { DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, TidalError } from '../../src/common/errors.js';
import { S3ObjectStore, type S3ObjectStoreOptions } from '../../src/storage/index.js';
import { endpoints, uniqueName } from '../harness/endpoints.js';

const title = (behaviour: string) => `object-store (s3) - ${behaviour}`;
/** Fast backoff so retry tests take milliseconds, not seconds. */
const FAST_RETRY = { retries: 3, minTimeoutMs: 10, maxTimeoutMs: 50 };

const bucket = uniqueName('tidal-os3');
/** Buckets tests created besides `bucket`; removed at the end. */
const extraBuckets: string[] = [];
const stores: S3ObjectStore[] = [];
const servers: http.Server[] = [];

async function options(overrides: Partial<S3ObjectStoreOptions> = {}): Promise<S3ObjectStoreOptions> {
  return { ...(await endpoints()).s3, bucket, rootPath: uniqueName('r'), createBucket: true, ...overrides };
}

function track(store: S3ObjectStore): S3ObjectStore {
  stores.push(store);
  return store;
}

async function listen(server: http.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A loopback port with nothing listening on it (bound, then released). */
async function deadPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * An HTTP proxy to the real S3 server that spoils the first `faults` requests: `503` answers them
 * with S3's SlowDown error, `reset` drops the connection without answering. Forwarded requests
 * keep their Host header, so their signatures still match.
 */
async function faultyProxy(target: string, mode: '503' | 'reset', faults: number): Promise<{ endpoint: string; requests: () => number }> {
  const upstream = new URL(target);
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests += 1;
    if (requests <= faults) {
      req.resume();
      if (mode === 'reset') {
        req.socket.destroy();
        return;
      }
      req.on('end', () => {
        res.writeHead(503, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      });
      return;
    }
    const fwd = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    fwd.on('error', () => res.destroy());
    req.pipe(fwd);
  });
  const port = await listen(server);
  return { endpoint: `http://127.0.0.1:${port}`, requests: () => requests };
}

/** A pino logger at debug level whose output lands in a string. */
function capturingLogger(): { logger: pino.Logger; text: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), text: () => text };
}

describe('object-store (s3) policies', () => {
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  });

  afterAll(async () => {
    const s3 = (await endpoints()).s3;
    const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3 });
    try {
      for (const name of [bucket, ...extraBuckets]) {
        const admin = new S3ObjectStore({ ...s3, bucket: name, rootPath: '', createBucket: true });
        await admin.deletePrefix('');
        await admin.close();
        await client.send(new DeleteBucketCommand({ Bucket: name }));
      }
    } finally {
      client.destroy();
    }
  });

  it(title('retries a refused connection, then gives up with BACKEND_UNAVAILABLE in bounded time'), async () => {
    const failures: unknown[] = [];
    const store = track(
      new S3ObjectStore({
        ...(await options()),
        endpoint: `http://127.0.0.1:${await deadPort()}`,
        retry: { ...FAST_RETRY, onRetry: (err) => failures.push(err) },
      }),
    );
    const started = Date.now();
    const err = await store.get('k').then(
      () => undefined,
      (e: unknown) => e,
    );
    const elapsedMs = Date.now() - started;
    expect(err).toBeInstanceOf(TidalError);
    expect(err).toMatchObject({ code: ErrorCode.BackendUnavailable, retriable: true });
    // One call per failed attempt: the first one and each of the 3 retries.
    expect(failures.length).toBe(FAST_RETRY.retries + 1);
    for (const f of failures) expect(f).toMatchObject({ code: ErrorCode.BackendUnavailable });
    expect(elapsedMs).toBeLessThan(5_000);
  });

  it(title('a 503 SlowDown is retried and the request then succeeds'), async () => {
    const proxy = await faultyProxy((await endpoints()).s3.endpoint, '503', 2);
    const failures: unknown[] = [];
    // createBucket off: the bucket exists (made by the store below), so the faults hit the put.
    const direct = track(new S3ObjectStore(await options()));
    await direct.put('warm', Buffer.from('x'));
    const store = track(new S3ObjectStore({ ...(await options()), endpoint: proxy.endpoint, createBucket: false, retry: { ...FAST_RETRY, onRetry: (err) => failures.push(err) } }));
    const body = randomBytes(10_000);
    await store.put('after-slowdown', body);
    expect(failures.length).toBe(2);
    expect(failures[0]).toMatchObject({ code: ErrorCode.BackendUnavailable, retriable: true, context: { httpStatus: 503, s3Error: 'SlowDown' } });
    expect((await store.get('after-slowdown')).equals(body)).toBe(true);
    expect(proxy.requests()).toBe(4); // 2 refused puts, 1 put, 1 get
  });

  it(title('a connection dropped mid-request is retried and the request then succeeds'), async () => {
    const rootPath = uniqueName('r');
    await track(new S3ObjectStore(await options({ rootPath }))).put('dropped', Buffer.from('survives'));
    const proxy = await faultyProxy((await endpoints()).s3.endpoint, 'reset', 1);
    const failures: unknown[] = [];
    const store = track(new S3ObjectStore({ ...(await options({ rootPath })), endpoint: proxy.endpoint, createBucket: false, retry: { ...FAST_RETRY, onRetry: (err) => failures.push(err) } }));
    expect((await store.get('dropped')).toString()).toBe('survives');
    expect(failures.length).toBe(1);
    expect(failures[0]).toMatchObject({ code: ErrorCode.BackendUnavailable, retriable: true });
  });

  it(title('a missing key is NOT_FOUND at once, without retries'), async () => {
    const failures: unknown[] = [];
    const store = track(new S3ObjectStore({ ...(await options()), retry: { ...FAST_RETRY, onRetry: (err) => failures.push(err) } }));
    await expect(store.get('nope')).rejects.toMatchObject({ code: ErrorCode.NotFound, retriable: false });
    await expect(store.getRange('nope', 0, 10)).rejects.toMatchObject({ code: ErrorCode.NotFound });
    expect(failures).toEqual([]);
  });

  it(title('wrong credentials fail at once as a non-retriable BACKEND_UNAVAILABLE'), async () => {
    const failures: unknown[] = [];
    const store = track(
      new S3ObjectStore({ ...(await options()), createBucket: false, secretAccessKey: 'not-the-secret', retry: { ...FAST_RETRY, onRetry: (err) => failures.push(err) } }),
    );
    await expect(store.put('k', Buffer.from('x'))).rejects.toMatchObject({ code: ErrorCode.BackendUnavailable, retriable: false, context: { httpStatus: 403 } });
    expect(failures).toEqual([]);
  });

  it(title('a missing bucket without createBucket is NOT_FOUND'), async () => {
    const store = track(new S3ObjectStore(await options({ bucket: uniqueName('tidal-nobucket'), createBucket: false })));
    await expect(store.put('k', Buffer.from('x'))).rejects.toMatchObject({ code: ErrorCode.NotFound, context: { s3Error: 'NoSuchBucket' } });
  });

  it(title('bucket creation is idempotent across stores and concurrent first calls'), async () => {
    const fresh = uniqueName('tidal-newbucket');
    extraBuckets.push(fresh);
    const a = track(new S3ObjectStore(await options({ bucket: fresh, rootPath: 'a' })));
    const b = track(new S3ObjectStore(await options({ bucket: fresh, rootPath: 'b' })));
    await Promise.all([a.put('k1', Buffer.from('1')), a.put('k2', Buffer.from('2')), b.put('k1', Buffer.from('3'))]);
    expect((await a.list('')).objects.map((o) => o.key)).toEqual(['k1', 'k2']);
    expect((await b.get('k1')).toString()).toBe('3');
    const whole = track(new S3ObjectStore(await options({ bucket: fresh, rootPath: '' })));
    expect((await whole.list('')).objects.map((o) => o.key)).toEqual(['a/k1', 'a/k2', 'b/k1']);
    expect(await whole.deletePrefix('')).toBe(3);
  });

  it(title('keys are stored under the root path and listed relative to it'), async () => {
    const rootPath = `${uniqueName('r')}/nested/root`;
    const store = track(new S3ObjectStore(await options({ rootPath: `/${rootPath}/` })));
    await store.put('x/y', Buffer.from('v'));
    const whole = track(new S3ObjectStore(await options({ rootPath: '' })));
    expect((await whole.head(`${rootPath}/x/y`))?.size).toBe(1);
    expect((await store.list('x/')).objects.map((o) => o.key)).toEqual(['x/y']);
    expect(await store.deletePrefix('')).toBe(1);
  });

  it(title('an invalid bucket name is rejected before any request'), async () => {
    for (const name of ['ab', 'UPPER', 'has_underscore', '-dash-first']) {
      expect(() => new S3ObjectStore({ endpoint: 'http://127.0.0.1:1', region: 'us-east-1', bucket: name, rootPath: '', accessKeyId: 'a', secretAccessKey: 'b' }), name).toThrow(
        expect.objectContaining({ code: ErrorCode.InvalidArgument }),
      );
    }
  });

  it(title('the secret key never reaches the logs or the errors'), async () => {
    const { logger, text } = capturingLogger();
    const s3 = (await endpoints()).s3;
    const logBucket = uniqueName('tidal-logbucket');
    extraBuckets.push(logBucket);
    const ok = track(new S3ObjectStore({ ...(await options({ bucket: logBucket })), logger }));
    await ok.put('k', Buffer.from('x'));
    await ok.deletePrefix('');
    const dead = track(new S3ObjectStore({ ...(await options()), endpoint: `http://127.0.0.1:${await deadPort()}`, logger, retry: FAST_RETRY }));
    const err = await dead.get('k').then(
      () => undefined,
      (e: unknown) => e as TidalError,
    );
    expect(err?.code).toBe(ErrorCode.BackendUnavailable);
    expect(text()).toContain('s3 request failed'); // the retries were logged…
    expect(text()).toContain('bucket created');
    expect(text()).not.toContain(s3.secretAccessKey); // …without the secret
    expect(JSON.stringify(err?.context)).not.toContain(s3.secretAccessKey);
    expect(String(err?.message)).not.toContain(s3.secretAccessKey);
  });
});
