/**
 * Noise accounting from /proc (Linux): over a measured window, how busy the machine was and which
 * processes used it — the bench itself, the DataNode and master children, the servers (Kafka,
 * s3proxy, etcd, found by their listening ports) — and the rest ("other": work of other sessions
 * on this shared machine). Elsewhere, or when /proc is unreadable, usage is null.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readMachineTicks, readProcTicks, TICKS_PER_SEC } from '../common/proc-stat.js';

/** utime + stime of a process, in ticks; 0 once it is gone. */
function procTicksOrZero(pid: number): number {
  try {
    return readProcTicks(pid);
  } catch {
    return 0; // exited: its time up to now was counted at the window's start
  }
}

/**
 * Pids of the processes listening on TCP `ports` on this machine (from /proc/net/tcp{,6} and each
 * process's fds). Ports nobody here listens on (a remote server) are left out.
 */
export function pidsListeningOn(ports: readonly number[]): Map<number, number> {
  const wanted = new Set(ports);
  const inodeToPort = new Map<string, number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // no IPv6 table (or no /proc): nothing to read here
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A: LISTEN
      const port = parseInt(f[1]!.split(':')[1] ?? '', 16);
      if (wanted.has(port)) inodeToPort.set(f[9]!, port);
    }
  }
  const out = new Map<number, number>();
  if (inodeToPort.size === 0) return out;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const p of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${p}/fd/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      const port = m === null ? undefined : inodeToPort.get(m[1]!);
      if (port !== undefined && !out.has(port)) out.set(port, Number(p));
    }
  }
  return out;
}

/** CPU of one window, in percent of ONE core (a 2-core machine tops out at 200). */
export interface CpuUsage {
  wallMs: number;
  /** Every process on the machine. */
  machinePct: number;
  /** Each named process group (e.g. bench, datanode, master, kafka, s3, etcd). */
  byName: Record<string, number>;
  /** machine − the named ones: other work competing with the run. */
  otherPct: number;
}

interface Snapshot {
  atMs: number;
  machineBusy: number;
  procs: Map<string, number>;
}

/** Measures CPU over start/stop windows for named pids. */
export class ProcMeter {
  private readonly supported: boolean;
  private open: Snapshot | undefined;

  /** `pids`: name → pids counted under it (evaluated at each start/stop, so late children can be added). */
  constructor(private readonly pids: () => Record<string, readonly number[]>) {
    let ok = process.platform === 'linux';
    try {
      if (ok) readMachineTicks();
    } catch {
      ok = false; // no /proc: report nulls rather than fail the benchmark
    }
    this.supported = ok;
  }

  private snapshot(): Snapshot {
    const procs = new Map<string, number>();
    for (const [name, list] of Object.entries(this.pids())) procs.set(name, list.reduce((a, p) => a + procTicksOrZero(p), 0));
    return { atMs: performance.now(), machineBusy: readMachineTicks().busy, procs };
  }

  /** Opens a window. */
  start(): void {
    if (this.supported) this.open = this.snapshot();
  }

  /** Closes the window opened by start() and returns its usage (null without /proc). */
  stop(): CpuUsage | null {
    if (!this.supported || this.open === undefined) return null;
    const end = this.snapshot();
    const begin = this.open;
    this.open = undefined;
    const wallMs = end.atMs - begin.atMs;
    if (wallMs <= 0) return null;
    const pct = (ticks: number) => Math.round((ticks / TICKS_PER_SEC / (wallMs / 1000)) * 1000) / 10;
    const byName: Record<string, number> = {};
    let named = 0;
    for (const [name, ticks] of end.procs) {
      // A process that exited inside the window reads 0 at the end: count nothing rather than a negative.
      const used = Math.max(0, ticks - (begin.procs.get(name) ?? ticks));
      byName[name] = pct(used);
      named += byName[name];
    }
    const machinePct = pct(end.machineBusy - begin.machineBusy);
    return { wallMs: Math.round(wallMs), machinePct, byName, otherPct: Math.max(0, Math.round((machinePct - named) * 10) / 10) };
  }
}
