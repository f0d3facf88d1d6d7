import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  REDACTED,
  configEnvVars,
  defaultConfig,
  flattenConfig,
  loadConfig,
  type LoadConfigOptions,
} from '../../../src/common/config.js';
import { ErrorCode, TidalError } from '../../../src/common/errors.js';

const YAML_FILE = new URL('../../../configs/tidal.yaml', import.meta.url).pathname;
const README_FILE = new URL('../../../configs/README.md', import.meta.url).pathname;

const dir = mkdtempSync(join(tmpdir(), 'tidal-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCounter = 0;
function yamlFile(text: string): string {
  fileCounter += 1;
  const file = join(dir, `c${fileCounter}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** The TidalError loadConfig throws for these options (fails the test if it does not throw one). */
function configError(options: LoadConfigOptions): TidalError {
  try {
    loadConfig({ env: {}, ...options });
  } catch (err) {
    expect(err).toBeInstanceOf(TidalError);
    return err as TidalError;
  }
  throw new Error('loadConfig did not throw');
}

describe('config', () => {
  it('config - defaults equal configs/tidal.yaml, key for key', () => {
    const fromFileRaw: unknown = parseYaml(readFileSync(YAML_FILE, 'utf8'));
    // The raw file (not merged with defaults) must hold every key with the default value.
    expect(fromFileRaw).toEqual(defaultConfig());
    expect(loadConfig({ file: YAML_FILE, env: {} })).toEqual(defaultConfig());
  });

  it('config - defaults are the documented ones', () => {
    const c = defaultConfig();
    expect(c.master.tso).toEqual({ windowMs: 3000, tickMs: 50 });
    expect(c.master.timeTickIntervalMs).toBe(200);
    expect(c.master.segment.allocationExpireMs).toBe(2000);
    expect(c.datanode.flush.bufferSizeBytes).toBe(16 * 1024 * 1024);
    expect(c.kv.backend).toBe('embedded');
    expect(c.mq.backend).toBe('embedded');
    expect(c.storage.backend).toBe('local');
  });

  it('config - configs/README.md lists every environment variable with its key', () => {
    const readme = readFileSync(README_FILE, 'utf8');
    const vars = configEnvVars();
    expect(vars.length).toBeGreaterThan(30);
    for (const [name, key] of vars) expect(readme).toContain(`| \`${name}\` | \`${key}\` |`);
  });

  it('config - environment overrides lists, numbers, booleans and nested keys', () => {
    const c = loadConfig({
      env: {
        TIDAL_ETCD_ENDPOINTS: 'http://a:2379, http://b:2379',
        TIDAL_KAFKA_BROKERS: 'k1:9092,k2:9092',
        TIDAL_MASTER_TSO_WINDOW_MS: '5000',
        TIDAL_MASTER_SEGMENT_ALLOCATION_EXPIRE_MS: '750',
        TIDAL_S3_FORCE_PATH_STYLE: 'false',
        TIDAL_KV_BACKEND: 'etcd',
        TIDAL_LOG_LEVEL: 'debug',
        TIDAL_TEST_SOMETHING_ELSE: 'ignored: not a config section',
        PATH: '/usr/bin',
      },
    });
    expect(c.etcd.endpoints).toEqual(['http://a:2379', 'http://b:2379']);
    expect(c.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
    expect(c.master.tso.windowMs).toBe(5000);
    expect(c.master.tso.tickMs).toBe(50);
    expect(c.master.segment.allocationExpireMs).toBe(750);
    expect(c.s3.forcePathStyle).toBe(false);
    expect(c.kv.backend).toBe('etcd');
    expect(c.log.level).toBe('debug');
  });

  it('config - file overrides defaults, environment overrides file, overrides win', () => {
    const file = yamlFile('master:\n  port: 1111\n  tso:\n    tickMs: 20\ndatanode:\n  port: 2222\n');
    const c = loadConfig({
      file,
      env: { TIDAL_MASTER_PORT: '3333' },
      overrides: { datanode: { port: 4444 } },
    });
    expect(c.master.port).toBe(3333);
    expect(c.master.tso).toEqual({ windowMs: 3000, tickMs: 20 });
    expect(c.datanode.port).toBe(4444);
    expect(c.master.dmlChannelNum).toBe(16);
  });

  it('config - a bad value names the key, what is allowed, the value and its source', () => {
    const err = configError({ env: { TIDAL_MASTER_TSO_WINDOW_MS: 'abc' } });
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toBe(
      'config: master.tso.windowMs must be an integer ≥ 100 (got "abc" from TIDAL_MASTER_TSO_WINDOW_MS)',
    );

    const level = configError({ file: yamlFile('log:\n  level: loud\n') });
    expect(level.message).toMatch(/^config: log\.level must be one of fatal, error, warn, info, debug, trace, silent \(got "loud" from file .*c\d+\.yaml\)$/);

    const url = configError({ overrides: { etcd: { endpoints: ['http://ok:2379', 'nope'] } } });
    expect(url.message).toBe('config: etcd.endpoints[1] must be an http:// or https:// URL (got "nope" from overrides)');
  });

  it('config - every bad key is reported, not only the first', () => {
    const err = configError({ env: { TIDAL_MASTER_PORT: '70000', TIDAL_DATANODE_PORT: '-1' } });
    expect(err.message).toContain('master.port must be an integer from 0 to 65535 (got 70000 from TIDAL_MASTER_PORT)');
    expect(err.message).toContain('datanode.port must be an integer from 0 to 65535 (got -1 from TIDAL_DATANODE_PORT)');
    expect(err.context.keys).toEqual(['master.port', 'datanode.port']);
  });

  it('config - keys that depend on each other are checked together', () => {
    const err = configError({ env: { TIDAL_MASTER_TSO_TICK_MS: '5000' } });
    expect(err.message).toBe(
      'config: master.tso.tickMs must be less than master.tso.windowMs (3000) (got 5000 from TIDAL_MASTER_TSO_TICK_MS)',
    );
    const flush = configError({ overrides: { datanode: { flush: { memoryLimitBytes: 2 * 1024 * 1024 } } } });
    expect(flush.message).toContain('datanode.flush.bufferSizeBytes must be at most datanode.flush.memoryLimitBytes (2097152)');
  });

  it('config - unknown keys are rejected with the allowed ones', () => {
    const err = configError({ file: yamlFile('master:\n  tso:\n    windowMS: 5000\n') });
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toMatch(/^config: unknown key master\.tso\.windowMS \(from file .*\); allowed keys of master\.tso: windowMs, tickMs$/);

    const section = configError({ overrides: { bogus: {} } as never });
    expect(section.message).toContain('config: unknown key bogus (from overrides); allowed keys: etcd, kafka, s3,');
  });

  it('config - an unknown variable in a config section is rejected, naming it', () => {
    const err = configError({ env: { TIDAL_MASTER_TSO_WINDOWMS: '5000' } });
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toContain('unknown environment variable TIDAL_MASTER_TSO_WINDOWMS');
  });

  it('config - secrets never appear in error messages or context', () => {
    const secret = 'hunter2-very-secret';
    const typed = configError({ overrides: { s3: { secretAccessKey: 12345678 as never } } });
    expect(typed.message).toBe(`config: s3.secretAccessKey must be a string (got ${REDACTED} from overrides)`);
    expect(typed.message).not.toContain('12345678');

    const section = configError({ overrides: { storage: { secretAccessKey: secret } as never } });
    expect(section.message).toContain('unknown key storage.secretAccessKey');
    expect(section.message).not.toContain(secret);

    const wrongShape = configError({ file: yamlFile(`kv:\n  - secretAccessKey: ${secret}\n`) });
    expect(wrongShape.message).toContain('config: kv must be a mapping of keys');
    expect(wrongShape.message).not.toContain(secret);

    // yaml's own parse error quotes the offending line (here: the secret); ours must not.
    const broken = configError({ file: yamlFile(`s3:\n  secretAccessKey: ${secret}: x\n`) });
    expect(broken.message).toMatch(/is not valid YAML \(\w+\) at line 2, column \d+$/);
    expect(broken.message).not.toContain(secret);

    for (const err of [typed, section, wrongShape, broken]) expect(JSON.stringify(err.context)).not.toContain(secret);
  });

  it('config - a missing file is NOT_FOUND', () => {
    const err = configError({ file: join(dir, 'does-not-exist.yaml') });
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(err.message).toContain('does-not-exist.yaml not found');
  });

  it('config - the result is deeply frozen', () => {
    const c = loadConfig({ env: {} });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.master.tso)).toBe(true);
    expect(Object.isFrozen(c.etcd.endpoints)).toBe(true);
    expect(() => {
      (c.master.tso as { windowMs: number }).windowMs = 1;
    }).toThrow(TypeError);
    expect(c.master.tso.windowMs).toBe(3000);
  });

  it('config - flattenConfig lists every key and redacts secrets', () => {
    const flat = new Map(flattenConfig(loadConfig({ env: { TIDAL_S3_SECRET_ACCESS_KEY: 'abc123secret' } })));
    expect(flat.size).toBe(configEnvVars().length);
    expect(flat.get('s3.secretAccessKey')).toBe(REDACTED);
    expect(flat.get('etcd.password')).toBe(REDACTED);
    expect(flat.get('master.tso.windowMs')).toBe('3000');
    expect(flat.get('etcd.endpoints')).toBe('http://127.0.0.1:2379');
    expect([...flat.values()].join(' ')).not.toContain('abc123secret');
  });
});
