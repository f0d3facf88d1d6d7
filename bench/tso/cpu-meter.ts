/**
 * CPU accounting over a measured window, from /proc (Linux): how busy the whole machine was, and
 * how much of that was this process and the benchmark's master. On a shared machine the rest
 * ("other") says how much background load competed with the run. Elsewhere every figure is null.
 */
import { readMachineTicks, readProcTicks, TICKS_PER_SEC } from '../common/proc-stat.js';

interface Snapshot {
  atMs: number;
  machineBusy: number;
  machineTotal: number;
  proc: Map<number, number>;
}

/** CPU used in a window, in percent of ONE core (a 2-core machine tops out at 200). */
export interface CpuUsage {
  /** Every process on the machine. */
  machinePct: number;
  /** This process (the load generator, and the master too when in-process). */
  clientPct: number;
  /** The master's child process; null when the master runs in-process. */
  masterPct: number | null;
  /** machine − client − master: other work competing with the run. */
  otherPct: number;
}

/** Sums CPU usage over one or more windows (start/stop pairs). */
export class CpuMeter {
  private readonly supported: boolean;
  private open: Snapshot | undefined;
  private wallMs = 0;
  private machineBusy = 0;
  private readonly procTicks = new Map<number, number>();

  /** `masterPid`: the master's child process, if any. */
  constructor(private readonly masterPid: number | undefined) {
    let ok = process.platform === 'linux';
    try {
      if (ok) readMachineTicks();
    } catch {
      ok = false; // no /proc: report nulls rather than fail the benchmark
    }
    this.supported = ok;
  }

  private pids(): number[] {
    return this.masterPid === undefined ? [process.pid] : [process.pid, this.masterPid];
  }

  private snapshot(): Snapshot {
    const m = readMachineTicks();
    return { atMs: performance.now(), machineBusy: m.busy, machineTotal: m.total, proc: new Map(this.pids().map((p) => [p, readProcTicks(p)])) };
  }

  /** Opens a window. */
  start(): void {
    if (this.supported) this.open = this.snapshot();
  }

  /** Closes the window opened by start() and adds it to the totals. */
  stop(): void {
    if (!this.supported || this.open === undefined) return;
    const end = this.snapshot();
    this.wallMs += end.atMs - this.open.atMs;
    this.machineBusy += end.machineBusy - this.open.machineBusy;
    for (const [pid, ticks] of end.proc) this.procTicks.set(pid, (this.procTicks.get(pid) ?? 0) + ticks - (this.open.proc.get(pid) ?? ticks));
    this.open = undefined;
  }

  /** Usage over every closed window, or null when /proc is not available or nothing was measured. */
  usage(): CpuUsage | null {
    if (!this.supported || this.wallMs === 0) return null;
    const pct = (ticks: number) => Math.round((ticks / TICKS_PER_SEC / (this.wallMs / 1000)) * 1000) / 10;
    const clientPct = pct(this.procTicks.get(process.pid) ?? 0);
    const masterPct = this.masterPid === undefined ? null : pct(this.procTicks.get(this.masterPid) ?? 0);
    const machinePct = pct(this.machineBusy);
    return { machinePct, clientPct, masterPct, otherPct: Math.max(0, Math.round((machinePct - clientPct - (masterPct ?? 0)) * 10) / 10) };
  }
}

/**
 * Wall time of a fixed single-thread workload shaped like the batched phase (promises, awaits,
 * bigint adds), in ms. The same code on the same machine should always take about as long; a run
 * whose calibration is slower had a slower CPU (host contention, frequency) whatever /proc says.
 */
export async function calibrationMs(): Promise<number> {
  let ts = 1n << 40n;
  const rounds = async (n: number) => {
    for (let round = 0; round < n; round++) {
      const waiters: ((v: bigint) => void)[] = [];
      const done = Array.from({ length: 1000 }, () => new Promise<bigint>((resolve) => waiters.push(resolve)).then((v) => v + 1n));
      for (const w of waiters) w((ts += 1n));
      await Promise.all(done);
    }
  };
  await rounds(100); // JIT warm-up, not timed
  const start = performance.now();
  await rounds(500);
  return Math.round((performance.now() - start) * 10) / 10;
}
