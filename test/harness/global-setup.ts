/**
 * vitest global setup: the real etcd, Kafka and S3 for this run. Endpoints given in
 * TIDAL_ETCD_ENDPOINTS, TIDAL_KAFKA_BROKERS and TIDAL_S3_ENDPOINT are used as they are; the missing
 * ones are started (in parallel) on free loopback ports and stopped when the run ends.
 */
import type { TestProject } from 'vitest/node';
import { endpointsFromEnv, type Endpoints } from './endpoints.js';
import { EtcdServer } from './etcd.js';
import { KafkaServer } from './kafka.js';
import { S3ProxyServer } from './s3proxy.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = endpointsFromEnv();
  const started: { close(): Promise<void> }[] = [];
  const track = <T extends { close(): Promise<void> }>(p: Promise<T>): Promise<T> =>
    p.then((s) => {
      started.push(s);
      return s;
    });
  const teardown = async () => {
    await Promise.allSettled(started.map((s) => s.close()));
  };
  // allSettled, not all: when one server fails to start, the others must be up (and tracked)
  // before teardown runs, or they would outlive the run.
  const results = await Promise.allSettled([
    given.etcd ? Promise.resolve(given.etcd) : track(EtcdServer.launch()).then((s) => s.endpoints),
    given.kafka ? Promise.resolve(given.kafka) : track(KafkaServer.launch()).then((s) => s.brokers),
    given.s3 ? Promise.resolve(given.s3) : track(S3ProxyServer.launch()).then((s) => s.s3),
  ] as const);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await teardown();
    throw failed.reason;
  }
  const [etcd, kafka, s3] = results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [string[], string[], Endpoints['s3']];
  project.provide('tidalEndpoints', { etcd, kafka, s3 });
  return teardown;
}
