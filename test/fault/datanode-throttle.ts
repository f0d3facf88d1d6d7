/**
 * A TCP proxy that caps the bytes per second flowing from clients to an upstream server (all
 * connections together; replies are not slowed): an S3 that accepts uploads slower than Kafka
 * delivers rows, for the DataNode memory-bound test.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** A throttling TCP proxy on a free loopback port. */
export class ThrottleProxy {
  private readonly sockets = new Set<Socket>();
  /** When the shared upload budget next has room, ms since the epoch. */
  private nextFree = 0;
  /** Bytes that went upstream. */
  uploaded = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on 127.0.0.1 and forwards to `upstreamPort`, uploads capped at `bytesPerSec`. */
  static async start(upstreamPort: number, bytesPerSec: number): Promise<ThrottleProxy> {
    const holder: { proxy?: ThrottleProxy } = {};
    const server = createServer((client) => holder.proxy?.handle(client, upstreamPort, bytesPerSec));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('throttle proxy has no port');
    holder.proxy = new ThrottleProxy(server, address.port);
    return holder.proxy;
  }

  /** `http://127.0.0.1:{port}`. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** @internal Forwards one client connection. */
  handle(client: Socket, upstreamPort: number, bytesPerSec: number): void {
    const upstream = connect(upstreamPort, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      // Each chunk waits its turn in the shared budget; reading pauses meanwhile (TCP backpressure).
      const now = Date.now();
      const start = Math.max(now, this.nextFree);
      this.nextFree = start + (chunk.byteLength / bytesPerSec) * 1000;
      this.uploaded += chunk.byteLength;
      client.pause();
      setTimeout(() => {
        upstream.write(chunk);
        client.resume();
      }, this.nextFree - now);
    });
  }

  /** Closes every connection and the listener. Safe to call twice. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
