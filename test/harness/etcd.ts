/**
 * A real etcd server (Debian's etcd-server) on free loopback ports with a temporary data dir.
 * `stop()` then `start()` restarts it on the same ports and data, which is how the conformance
 * suite shows that a watch resumes after the server comes back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { PREREQUISITES, requirePrerequisite } from './prerequisites.js';
import { ServerProcess } from './server-process.js';

/** A harness-started etcd. */
export class EtcdServer {
  private proc: ServerProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly clientPort: number,
    readonly peerPort: number,
  ) {}

  /** Client endpoints, e.g. ['http://127.0.0.1:40123']. */
  get endpoints(): string[] {
    return [`http://127.0.0.1:${this.clientPort}`];
  }

  /** Starts a new etcd with its own ports and data dir. Throws if etcd is not installed. */
  static async launch(): Promise<EtcdServer> {
    requirePrerequisite(PREREQUISITES.etcd);
    const dir = mkdtempSync(join(tmpdir(), 'tidal-etcd-'));
    const server = new EtcdServer(dir, await freePort(), await freePort());
    await server.start();
    return server;
  }

  /** (Re)starts the process on the same ports and data dir; resolves when it accepts clients. */
  async start(): Promise<void> {
    if (this.proc !== undefined && this.proc.deadReason() === undefined) return;
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.proc = ServerProcess.spawn({
      name: 'etcd',
      command: 'etcd',
      args: [
        '--name', 'tidal-test',
        '--data-dir', join(this.dir, 'data'),
        '--listen-client-urls', client,
        '--advertise-client-urls', client,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `tidal-test=${peer}`,
        '--log-level', 'warn',
      ],
      logFile: join(this.dir, 'etcd.log'),
    });
    await waitForPort('127.0.0.1', this.clientPort, 30_000, this.proc.deadReason);
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
