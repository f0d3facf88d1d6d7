/**
 * CPU counters from /proc (Linux), for the benches' noise accounting: the whole machine's busy and
 * total ticks, and one process's own CPU time.
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: 100 on every mainstream Linux build. */
export const TICKS_PER_SEC = 100;

/** The machine's busy and total CPU ticks since boot (first line of /proc/stat). */
export function readMachineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** utime + stime of process `pid`, in ticks. Throws when it is gone (or /proc is unreadable). */
export function readProcTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}
