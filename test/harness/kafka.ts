/**
 * A real Apache Kafka broker in KRaft mode (broker + controller in one JVM), its jars resolved from
 * Maven Central by test/harness/maven/kafka/pom.xml, on free loopback ports with a temporary
 * log dir.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveClassPath } from './maven.js';
import { freePort, waitForPort } from './ports.js';
import { PREREQUISITES, requirePrerequisite } from './prerequisites.js';
import { ServerProcess } from './server-process.js';

/** JVM flags shared by the tools and the broker: small heap, reload4j quiet unless asked. */
const JVM_FLAGS = ['-Xms256m', '-Xmx1g', '-XX:+UseG1GC', '-Dlog4j.configuration=file:/dev/null'];

/** A harness-started Kafka broker. */
export class KafkaServer {
  private proc: ServerProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly classPath: string,
  ) {}

  /** Bootstrap brokers, e.g. ['127.0.0.1:40123']. */
  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  /** Formats storage and starts a broker. Throws if java or mvn is missing. */
  static async launch(): Promise<KafkaServer> {
    requirePrerequisite(PREREQUISITES.java);
    const classPath = resolveClassPath('kafka');
    const dir = mkdtempSync(join(tmpdir(), 'tidal-kafka-'));
    const port = await freePort();
    const controllerPort = await freePort();
    const props = join(dir, 'server.properties');
    writeFileSync(
      props,
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
        `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
        `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        `log.dirs=${join(dir, 'data')}`,
        'num.partitions=1',
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=4',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'group.initial.rebalance.delay.ms=0',
        'auto.create.topics.enable=false',
        'log.retention.check.interval.ms=5000',
      ].join('\n') + '\n',
    );
    const tool = (args: string[]): string => {
      const res = spawnSync('java', [...JVM_FLAGS, '-cp', classPath, 'kafka.tools.StorageTool', ...args], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      if (res.status !== 0) throw new Error(`kafka StorageTool ${args[0]} failed (exit ${res.status}): ${res.stderr.slice(-2000)}`);
      return res.stdout;
    };
    const clusterId = tool(['random-uuid']).trim().split('\n').pop() ?? '';
    tool(['format', '-t', clusterId, '-c', props]);
    const server = new KafkaServer(dir, port, classPath);
    await server.start(props);
    return server;
  }

  private async start(props: string): Promise<void> {
    this.proc = ServerProcess.spawn({
      name: 'kafka',
      command: 'java',
      args: [...JVM_FLAGS, '-cp', this.classPath, 'kafka.Kafka', props],
      logFile: join(this.dir, 'kafka.log'),
    });
    await waitForPort('127.0.0.1', this.port, 90_000, this.proc.deadReason);
  }

  /** Stops the broker and removes its data. Safe to call twice. */
  async close(): Promise<void> {
    await this.proc?.stop(10_000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
