/**
 * Where a profiled process spent its time: reads a V8 `.cpuprofile` (written by `node --cpu-prof`,
 * e.g. the DataNode of `npm run bench:ingest -- --cpu-prof DIR`) and prints the share of samples
 * by file or package (self time), by function (self time) and by function including callees.
 *
 *   npx tsx bench/ingest/profile-summary.ts DIR/CPU.*.cpuprofile [--top N]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where code lives: a node_modules package, a repository path under src/ or flowgraph/, node's internals, or a V8 pseudo-frame. */
export function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg !== null) return pkg[1]!;
  const own = /\/((?:src|flowgraph|bench)\/.*)$/.exec(url);
  if (own !== null) return own[1]!;
  if (url.startsWith('node:')) return 'node:internal';
  return url;
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '20' } } });
  const file = positionals[0];
  if (file === undefined) throw new Error('usage: profile-summary.ts FILE.cpuprofile [--top N]');
  const top = Number(values.top);
  if (!Number.isInteger(top) || top < 1) throw new Error(`--top must be a positive integer, got ${JSON.stringify(values.top)}`);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const fnKey = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${areaOf(n.callFrame.url, n.callFrame.functionName)}:${n.callFrame.lineNumber + 1}`;

  const selfByArea = new Map<string, number>();
  const selfByFn = new Map<string, number>();
  const inclByFn = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(profile.samples[i]!);
    if (node === undefined) continue;
    total += dt;
    const area = areaOf(node.callFrame.url, node.callFrame.functionName);
    selfByArea.set(area, (selfByArea.get(area) ?? 0) + dt);
    selfByFn.set(fnKey(node), (selfByFn.get(fnKey(node)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const k = fnKey(byId.get(id)!);
      if (seen.has(k)) continue;
      seen.add(k);
      inclByFn.set(k, (inclByFn.get(k) ?? 0) + dt);
    }
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1)} %`;
  const table = (m: Map<string, number>, skip: (k: string) => boolean = () => false) =>
    [...m]
      .filter(([k]) => !skip(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({ share: pct(us), ms: Math.round(us / 1000), where: k }));
  console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
  console.log('self time by file / package:');
  console.table(table(selfByArea));
  console.log('self time by function:');
  console.table(table(selfByFn));
  console.log('time including callees, by function:');
  console.table(table(inclByFn, (k) => k.startsWith('(root)') || k.startsWith('(idle)') || k.startsWith('(program)')));
}

try {
  main();
} catch (err) {
  console.error(`profile-summary failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
