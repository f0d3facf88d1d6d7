/**
 * A real S3 API server: s3proxy (jar-with-dependencies from Maven Central, resolved by
 * test/harness/maven/s3proxy/pom.xml) with its filesystem backend, on a free loopback port.
 * `stop()` then `start()` brings it back on the same port and data (storage-outage tests).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Endpoint } from './endpoints.js';
import { resolveClassPath } from './maven.js';
import { freePort, waitForPort } from './ports.js';
import { PREREQUISITES, requirePrerequisite } from './prerequisites.js';
import { ServerProcess } from './server-process.js';

const IDENTITY = 'tidal';
const CREDENTIAL = 'tidal-secret';

/** A harness-started s3proxy. */
export class S3ProxyServer {
  private proc: ServerProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly jar: string,
  ) {}

  /** Endpoint and credentials for clients (path-style). */
  get s3(): S3Endpoint {
    return { endpoint: `http://127.0.0.1:${this.port}`, region: 'us-east-1', accessKeyId: IDENTITY, secretAccessKey: CREDENTIAL };
  }

  /** Starts a new s3proxy with its own port and data dir. Throws if java or mvn is missing. */
  static async launch(): Promise<S3ProxyServer> {
    requirePrerequisite(PREREQUISITES.java);
    const jar = resolveClassPath('s3proxy').split(':')[0] ?? '';
    const dir = mkdtempSync(join(tmpdir(), 'tidal-s3proxy-'));
    mkdirSync(join(dir, 'data'));
    const server = new S3ProxyServer(dir, await freePort(), jar);
    writeFileSync(
      join(dir, 's3proxy.conf'),
      [
        `s3proxy.endpoint=http://127.0.0.1:${server.port}`,
        's3proxy.authorization=aws-v2-or-v4',
        `s3proxy.identity=${IDENTITY}`,
        `s3proxy.credential=${CREDENTIAL}`,
        'jclouds.provider=filesystem',
        `jclouds.filesystem.basedir=${join(dir, 'data')}`,
      ].join('\n') + '\n',
    );
    // s3proxy logs at DEBUG by default, which slows it a lot.
    writeFileSync(
      join(dir, 'logback.xml'),
      '<configuration><appender name="OUT" class="ch.qos.logback.core.ConsoleAppender"><encoder><pattern>%d %level %logger %msg%n</pattern></encoder></appender><root level="WARN"><appender-ref ref="OUT"/></root></configuration>\n',
    );
    await server.start();
    return server;
  }

  /** (Re)starts the process on the same port and data; resolves when it accepts connections. */
  async start(): Promise<void> {
    if (this.proc !== undefined && this.proc.deadReason() === undefined) return;
    this.proc = ServerProcess.spawn({
      name: 's3proxy',
      command: 'java',
      args: ['-Xmx512m', `-Dlogback.configurationFile=${join(this.dir, 'logback.xml')}`, '-jar', this.jar, '--properties', join(this.dir, 's3proxy.conf')],
      logFile: join(this.dir, 's3proxy.log'),
    });
    await waitForPort('127.0.0.1', this.port, 60_000, this.proc.deadReason);
  }

  /** Stops the process, keeping its data for a later `start()`. */
  async stop(): Promise<void> {
    await this.proc?.stop();
  }

  /** Stops the process and removes its data. Safe to call twice. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
