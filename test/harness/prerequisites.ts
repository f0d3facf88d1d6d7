/**
 * Checks for what the harness needs on the machine, failing fast with a message that names the
 * missing piece and how to get it — never a hang.
 */
import { spawnSync } from 'node:child_process';

/** A missing prerequisite: the message says what is missing and how to install it. */
export class MissingPrerequisiteError extends Error {
  constructor(
    readonly prerequisite: string,
    message: string,
  ) {
    super(message);
    this.name = 'MissingPrerequisiteError';
  }
}

export interface Prerequisite {
  /** Command looked up on PATH. */
  command: string;
  /** Arguments that make it print its version and exit. */
  versionArgs: string[];
  /** What to tell the user when it is missing. */
  hint: string;
}

export const PREREQUISITES = {
  etcd: { command: 'etcd', versionArgs: ['--version'], hint: 'install etcd 3.4 or newer: apt-get install -y etcd-server' },
  java: { command: 'java', versionArgs: ['-version'], hint: 'install a JDK 17 or newer: apt-get install -y openjdk-17-jre-headless' },
  mvn: { command: 'mvn', versionArgs: ['--version'], hint: 'install Apache Maven 3.8 or newer: apt-get install -y maven' },
} as const satisfies Record<string, Prerequisite>;

/**
 * Throws MissingPrerequisiteError when `p.command` cannot be run. `path` overrides PATH (tests use it
 * to show the message). Bounded: a command that does not answer in 30 s counts as missing.
 */
export function requirePrerequisite(p: Prerequisite, path: string | undefined = process.env.PATH): void {
  const res = spawnSync(p.command, p.versionArgs, { env: { ...process.env, PATH: path }, stdio: 'ignore', timeout: 30_000 });
  if (res.error !== undefined || res.status !== 0) {
    throw new MissingPrerequisiteError(p.command, `${p.command} not found: ${p.hint}`);
  }
}
