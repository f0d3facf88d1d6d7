import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { EtcdServer } from './etcd.js';
import { MissingPrerequisiteError, PREREQUISITES, requirePrerequisite } from './prerequisites.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('harness', () => {
  it('harness - a missing java names it and how to install it', () => {
    const started = Date.now();
    let caught: unknown;
    try {
      requirePrerequisite(PREREQUISITES.java, '/nonexistent');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MissingPrerequisiteError);
    expect((caught as Error).message).toBe('java not found: install a JDK 17 or newer: apt-get install -y openjdk-17-jre-headless');
    // Fails fast, never a hang.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('harness - a missing etcd or mvn is reported by name', () => {
    expect(() => requirePrerequisite(PREREQUISITES.etcd, '/nonexistent')).toThrow(/^etcd not found: install etcd/);
    expect(() => requirePrerequisite(PREREQUISITES.mvn, '/nonexistent')).toThrow(/^mvn not found: install Apache Maven/);
  });

  it('harness - a present prerequisite passes', () => {
    expect(() => requirePrerequisite(PREREQUISITES.java)).not.toThrow();
  });

  it('harness - an etcd it starts is stopped by close and leaves no process', async () => {
    const etcd = await EtcdServer.launch();
    const pids = spawnSync('pgrep', ['-f', `127.0.0.1:${etcd.clientPort}`], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean)
      .map(Number);
    expect(pids.length).toBeGreaterThan(0);
    await etcd.close();
    await etcd.close();
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });
});
