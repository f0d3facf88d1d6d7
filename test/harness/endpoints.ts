/**
 * What the tests see of the harness: the endpoints of the real servers for this run, and unique
 * names so tests never see each other's data. Inside vitest the endpoints come from the global
 * setup (`inject`); outside it (a script, a bench) from the TIDAL_* environment variables.
 */

export interface S3Endpoint {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface Endpoints {
  /** etcd client URLs. */
  etcd: string[];
  /** Kafka bootstrap brokers, host:port. */
  kafka: string[];
  /** An S3 API server (path-style addressing). */
  s3: S3Endpoint;
}

declare module 'vitest' {
  export interface ProvidedContext {
    tidalEndpoints: Endpoints;
  }
}

/** Endpoints from the TIDAL_* environment variables, or undefined for each one that is not set. */
export function endpointsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<Endpoints> {
  const out: Partial<Endpoints> = {};
  if (env.TIDAL_ETCD_ENDPOINTS) out.etcd = env.TIDAL_ETCD_ENDPOINTS.split(',').map((s) => s.trim());
  if (env.TIDAL_KAFKA_BROKERS) out.kafka = env.TIDAL_KAFKA_BROKERS.split(',').map((s) => s.trim());
  if (env.TIDAL_S3_ENDPOINT) {
    out.s3 = {
      endpoint: env.TIDAL_S3_ENDPOINT,
      region: env.TIDAL_S3_REGION ?? 'us-east-1',
      accessKeyId: env.TIDAL_S3_ACCESS_KEY_ID ?? 'tidal',
      secretAccessKey: env.TIDAL_S3_SECRET_ACCESS_KEY ?? 'tidal-secret',
    };
  }
  return out;
}

/** The endpoints of this test run. Throws if the harness did not provide them. */
export async function endpoints(): Promise<Endpoints> {
  let provided: Endpoints | undefined;
  try {
    const { inject } = await import('vitest');
    provided = inject('tidalEndpoints');
  } catch {
    // Not inside a vitest worker: fall back to the environment.
  }
  if (provided !== undefined) return provided;
  const env = endpointsFromEnv();
  if (env.etcd && env.kafka && env.s3) return env as Endpoints;
  throw new Error('no test endpoints: run under vitest (global setup) or set TIDAL_ETCD_ENDPOINTS, TIDAL_KAFKA_BROKERS and TIDAL_S3_ENDPOINT');
}

let counter = 0;
/** A name unique to this process and call: `${prefix}-${pid}-${time}-${n}`, lowercase, S3/Kafka safe. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`.toLowerCase();
}
