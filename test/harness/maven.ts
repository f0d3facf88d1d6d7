/**
 * Resolves a Java server's class path from a pom in test/harness/maven/ with `mvn`, downloading
 * into ~/.m2 on first use. The class path is cached next to node_modules, keyed by the pom's
 * content, so later runs start without invoking Maven.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PREREQUISITES, requirePrerequisite } from './prerequisites.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const cacheDir = join(repoRoot, 'node_modules', '.cache', 'tidal-harness');

/** The class path (':'-joined jar paths) of the pom at test/harness/maven/<name>/pom.xml. */
export function resolveClassPath(name: 'kafka' | 's3proxy'): string {
  const pom = join(here, 'maven', name, 'pom.xml');
  const hash = createHash('sha256').update(readFileSync(pom)).digest('hex').slice(0, 16);
  const cached = join(cacheDir, `${name}-${hash}.cp`);
  if (existsSync(cached)) {
    const cp = readFileSync(cached, 'utf8').trim();
    if (cp.split(':').every((jar) => existsSync(jar))) return cp;
  }
  requirePrerequisite(PREREQUISITES.mvn);
  mkdirSync(cacheDir, { recursive: true });
  const res = spawnSync('mvn', ['-q', '-B', '-f', pom, 'dependency:build-classpath', `-Dmdep.outputFile=${cached}`], {
    encoding: 'utf8',
    timeout: 10 * 60_000,
  });
  if (res.status !== 0 || !existsSync(cached)) {
    throw new Error(`mvn could not resolve ${name} from ${pom} (exit ${res.status}): ${(res.stdout + res.stderr).slice(-2000)}`);
  }
  return readFileSync(cached, 'utf8').trim();
}
