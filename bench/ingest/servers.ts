/**
 * The real etcd, Kafka and S3 the ingest benchmark runs on: the ones named by TIDAL_ETCD_ENDPOINTS,
 * TIDAL_KAFKA_BROKERS and TIDAL_S3_ENDPOINT (with TIDAL_S3_REGION, TIDAL_S3_ACCESS_KEY_ID,
 * TIDAL_S3_SECRET_ACCESS_KEY), and for each one not named, a server of its own started with the
 * test harness (test/harness: Debian's etcd, Kafka in KRaft mode and s3proxy from Maven Central),
 * stopped again by close(). So `npm run bench:ingest` works on a fresh clone with java, mvn and
 * etcd installed, and reuses running servers when the environment names them.
 */
import { endpointsFromEnv, type S3Endpoint } from '../../test/harness/endpoints.js';
import { EtcdServer } from '../../test/harness/etcd.js';
import { KafkaServer } from '../../test/harness/kafka.js';
import { S3ProxyServer } from '../../test/harness/s3proxy.js';

/** Where the servers are, and which of them this run started. */
export interface BenchServers {
  etcd: string[];
  kafka: string[];
  s3: S3Endpoint;
  /** 'env' when taken from the environment, 'started' when launched for this run. */
  origin: { etcd: 'env' | 'started'; kafka: 'env' | 'started'; s3: 'env' | 'started' };
  /** Stops the servers this run started (not those from the environment). Safe to call twice. */
  close(): Promise<void>;
}

/** The servers of this run; starts the missing ones in parallel. Throws the harness's error (e.g. java missing). */
export async function benchServers(env: NodeJS.ProcessEnv = process.env): Promise<BenchServers> {
  const given = endpointsFromEnv(env);
  const started: { close(): Promise<void> }[] = [];
  const track = <T extends { close(): Promise<void> }>(p: Promise<T>): Promise<T> =>
    p.then((s) => {
      started.push(s);
      return s;
    });
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= Promise.allSettled(started.map((s) => s.close())).then(() => undefined));
  const results = await Promise.allSettled([
    given.etcd ? Promise.resolve(given.etcd) : track(EtcdServer.launch()).then((s) => s.endpoints),
    given.kafka ? Promise.resolve(given.kafka) : track(KafkaServer.launch()).then((s) => s.brokers),
    given.s3 ? Promise.resolve(given.s3) : track(S3ProxyServer.launch()).then((s) => s.s3),
  ] as const);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await close();
    throw failed.reason;
  }
  const [etcd, kafka, s3] = results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [string[], string[], S3Endpoint];
  return {
    etcd,
    kafka,
    s3,
    origin: { etcd: given.etcd ? 'env' : 'started', kafka: given.kafka ? 'env' : 'started', s3: given.s3 ? 'env' : 'started' },
    close,
  };
}
