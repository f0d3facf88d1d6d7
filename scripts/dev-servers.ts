/**
 * Starts the real etcd, Kafka and S3 (s3proxy) the tests use, on free loopback ports, and keeps them
 * up until SIGINT/SIGTERM. It prints the TIDAL_* exports that make `npm test`, the benches and the
 * CLI reuse them (`npx tsx scripts/dev-servers.ts > /tmp/tidal-env.sh`, then `. /tmp/tidal-env.sh`).
 */
import { EtcdServer } from '../test/harness/etcd.js';
import { KafkaServer } from '../test/harness/kafka.js';
import { S3ProxyServer } from '../test/harness/s3proxy.js';

const [etcd, kafka, s3] = await Promise.all([EtcdServer.launch(), KafkaServer.launch(), S3ProxyServer.launch()]);
process.stdout.write(
  [
    `export TIDAL_ETCD_ENDPOINTS=${etcd.endpoints.join(',')}`,
    `export TIDAL_KAFKA_BROKERS=${kafka.brokers.join(',')}`,
    `export TIDAL_S3_ENDPOINT=${s3.s3.endpoint}`,
    `export TIDAL_S3_REGION=${s3.s3.region}`,
    `export TIDAL_S3_ACCESS_KEY_ID=${s3.s3.accessKeyId}`,
    `export TIDAL_S3_SECRET_ACCESS_KEY=${s3.s3.secretAccessKey}`,
    '',
  ].join('\n'),
);
// Nothing else keeps the event loop alive (the servers' processes are unref'd): hold it open.
const keepAlive = setInterval(() => undefined, 1 << 30);
let closing = false;
const close = () => {
  if (closing) return;
  closing = true;
  clearInterval(keepAlive);
  void Promise.allSettled([etcd.close(), kafka.close(), s3.close()]).then(() => process.exit(0));
};
process.on('SIGINT', close);
process.on('SIGTERM', close);
