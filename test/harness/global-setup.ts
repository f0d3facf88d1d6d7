/**
 * vitest global setup: the real etcd, Kafka and S3 for this run. Endpoints given in TIDAL_* are
 * used as they are; the missing ones are started on free loopback ports and stopped at the end.
 */
import type { TestProject } from 'vitest/node';
import { endpointsFromEnv, type Endpoints } from './endpoints.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = endpointsFromEnv();
  if (!(env.etcd && env.kafka && env.s3)) throw new Error('harness: starting servers is not written yet; set TIDAL_* endpoints');
  project.provide('tidalEndpoints', env as Endpoints);
  return async () => {};
}
