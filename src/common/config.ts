/**
 * Tidal's configuration: one zod schema with every default (configs/tidal.yaml lists the same
 * values with their units), loaded once at startup by {@link loadConfig}, validated, deep-frozen and
 * passed down as typed slices (`EtcdConfig`, `KafkaConfig`, ...). Components never read the
 * environment or a global config themselves.
 *
 * Precedence, lowest first: schema defaults < YAML file < `TIDAL_*` environment < `overrides`.
 *
 * Environment mapping (configs/README.md lists every variable): `TIDAL_` + the key path with each
 * camelCase segment in SCREAMING_SNAKE, segments joined by `_` — `master.tso.windowMs` is
 * `TIDAL_MASTER_TSO_WINDOW_MS`. Lists are comma-separated (`TIDAL_ETCD_ENDPOINTS=http://a:2379,http://b:2379`),
 * numbers are parsed, booleans are `true`/`false`/`1`/`0`. A `TIDAL_*` variable that starts
 * with a section name (`TIDAL_ETCD_...`) but names no key is rejected, so typos do not pass
 * silently; variables outside the sections (`TIDAL_TEST_...`) are left alone.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ErrorCode, TidalError } from './errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Key paths whose values are secrets: never shown in errors, redacted by {@link flattenConfig}. */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'etcd.password',
  's3.accessKeyId',
  's3.secretAccessKey',
]);

/** What {@link flattenConfig} and error messages show instead of a secret. */
export const REDACTED = '[redacted]';

// ---- leaf schemas: each carries one "must be ..." text, used for every way the value can be wrong.

function int(min: number, max?: number) {
  const error = max === undefined ? `must be an integer ≥ ${min}` : `must be an integer from ${min} to ${max}`;
  const s = z.number({ error }).int({ error }).min(min, { error });
  return max === undefined ? s.max(Number.MAX_SAFE_INTEGER, { error }) : s.max(max, { error });
}

function str(pattern?: RegExp, allowed?: string) {
  if (pattern === undefined) return z.string({ error: 'must be a string' });
  const error = `must be ${allowed ?? `a string matching ${String(pattern)}`}`;
  return z.string({ error }).regex(pattern, { error });
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(', ')}` });
}

function list<T extends z.ZodType>(item: T, what: string) {
  const error = `must be a non-empty list of ${what} (a YAML list, or comma-separated in the environment)`;
  return z.array(item, { error }).min(1, { error });
}

const bool = () => z.boolean({ error: 'must be true or false' });

const URL_RE = /^https?:\/\/[^\s/]+(\/\S*)?$/;
const HOST_PORT_RE = /^(\[[0-9A-Fa-f:.]+\]|[^\s:,[\]]+):\d{1,5}$/;
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** No leading or trailing slash; may be empty. */
const PREFIX_RE = /^(?:[^/\s](?:\S*[^/\s])?)?$/;
const TOPIC_PREFIX_RE = /^[A-Za-z0-9._-]{1,200}$/;

/** A strict section whose every key has a default, so an absent section is filled in. */
function section<T extends z.ZodRawShape>(shape: T) {
  const schema = z.strictObject(shape, { error: 'must be a mapping of keys (a YAML object)' });
  // `{}` is a valid input because every leaf has a default (DEFAULTS below would throw otherwise).
  return schema.prefault({} as z.input<typeof schema>);
}

const etcdSchema = section({
  /** etcd client URLs. */
  endpoints: list(str(URL_RE, 'an http:// or https:// URL'), 'http(s) URLs').default(['http://127.0.0.1:2379']),
  /** Prefix of every Tidal key in etcd (`{rootPath}/tso/timestamp`, ...). */
  rootPath: str(/^[^/\s](?:\S*[^/\s])?$/, 'a non-empty key prefix without leading or trailing "/"').default('tidal'),
  /** Connect timeout, ms. */
  dialTimeoutMs: int(1).default(5000),
  /** etcd user; empty: no authentication. */
  username: str().default(''),
  /** etcd password (secret). */
  password: str().default(''),
});

const kafkaSchema = section({
  /** Bootstrap brokers, host:port. */
  brokers: list(str(HOST_PORT_RE, 'a host:port address'), 'host:port addresses').default(['127.0.0.1:9092']),
  /** Kafka client id. */
  clientId: str(/^\S+$/, 'a non-empty string without spaces').default('tidal'),
  /** Largest record batch a producer sends, bytes (the broker's message.max.bytes is ~1 MiB by default). */
  maxMessageBytes: int(64 * KiB).default(1 * MiB),
  /** Bytes one consumer fetch returns at most per pchannel (its read-ahead; a larger record still comes whole). */
  fetchMaxBytes: int(64 * KiB, 1024 * MiB).default(1 * MiB),
});

const s3Schema = section({
  /** S3 API endpoint URL; empty: AWS's default endpoint for the region. */
  endpoint: str(/^(?:https?:\/\/[^\s/]+(\/\S*)?)?$/, 'an http:// or https:// URL, or empty for AWS').default(
    'http://127.0.0.1:9000',
  ),
  region: str(/^\S+$/, 'a non-empty region name').default('us-east-1'),
  bucket: str(BUCKET_RE, 'an S3 bucket name (3-63 characters: a-z, 0-9, ".", "-")').default('tidal'),
  /** Prefix of every object Tidal writes (`{rootPath}/insert_log/...`). */
  rootPath: str(PREFIX_RE, 'a key prefix without leading or trailing "/" (may be empty)').default('files'),
  /** Access key id (secret). */
  accessKeyId: str().default('minioadmin'),
  /** Secret access key (secret). */
  secretAccessKey: str().default('minioadmin'),
  /** Path-style addressing (`endpoint/bucket/key`), needed by MinIO and most non-AWS servers. */
  forcePathStyle: bool().default(true),
  /**
   * Sign requests with UNSIGNED-PAYLOAD instead of the body's SHA-256 (headers and credentials
   * stay signed; TLS protects the body on https). false: hash every body.
   */
  unsignedPayload: bool().default(true),
});

const storageSchema = section({
  /** Object store: `s3` (S3/MinIO) or `local` (a directory). */
  backend: oneOf(['local', 's3']).default('local'),
  /** Directory of the local object store. */
  localDir: str(/^\S.*$/, 'a non-empty directory path').default('tidal-data/storage'),
});

const kvSchema = section({
  /** Metadata KV: `etcd` or `embedded` (a persistent local store). */
  backend: oneOf(['embedded', 'etcd']).default('embedded'),
  /** Directory of the embedded KV. */
  localDir: str(/^\S.*$/, 'a non-empty directory path').default('tidal-data/kv'),
});

const mqSchema = section({
  /** Message log: `kafka` or `embedded` (a persistent local log). */
  backend: oneOf(['embedded', 'kafka']).default('embedded'),
  /** Directory of the embedded log. */
  localDir: str(/^\S.*$/, 'a non-empty directory path').default('tidal-data/mq'),
});

const tsoSchema = section({
  /** How far ahead of physical time the saved upper bound runs, ms. */
  windowMs: int(100).default(3000),
  /** Tick that advances physical time and extends the window, ms; less than windowMs. */
  tickMs: int(1).default(50),
}).superRefine((tso, ctx) => {
  // Below its minimum, windowMs is already reported; comparing with it would only add noise.
  if (tso.windowMs >= 100 && tso.tickMs >= tso.windowMs) {
    ctx.addIssue({ code: 'custom', path: ['tickMs'], message: `must be less than master.tso.windowMs (${tso.windowMs})` });
  }
});

const segmentSchema = section({
  /** A growing segment is sealed when it holds this many bytes, bytes. */
  maxSizeBytes: int(1 * MiB).default(512 * MiB),
  /** Lease of a segment allocation, in TSO time, ms. */
  allocationExpireMs: int(1).default(2000),
  /** A growing segment older than this is sealed, ms. */
  maxLifetimeMs: int(1).default(86_400_000),
  /** A growing segment that received nothing for this long is sealed (if not tiny), ms. */
  maxIdleMs: int(1).default(600_000),
  /** ...provided it holds at least this many bytes, bytes. */
  minSizeToSealIdleBytes: int(0).default(16 * MiB),
});

const masterSchema = section({
  /** Listen address of the gRPC server. */
  host: str(/^\S+$/, 'a non-empty host name or IP address').default('0.0.0.0'),
  /** gRPC port; 0: any free port. */
  port: int(0, 65535).default(53100),
  /** host:port other processes use to reach this master; empty: this machine's hostname and port. */
  advertiseAddress: str(/^(?:\S+:\d{1,5})?$/, 'host:port, or empty').default(''),
  /** TTL of the master's etcd session lease (leader election), ms. */
  sessionTtlMs: int(2000).default(10_000),
  tso: tsoSchema,
  /** Number of DML pchannels `{channelPrefix}-dml_{i}`. */
  dmlChannelNum: int(1, 1024).default(16),
  /** Prefix of Tidal's Kafka topics (`{prefix}-dml_{i}`, `{prefix}-dd`). */
  channelPrefix: str(TOPIC_PREFIX_RE, '1-200 characters of A-Z, a-z, 0-9, ".", "_", "-"').default('tidal'),
  /** Shards (vchannels) of a collection created without shardsNum. */
  defaultShardsNum: int(1, 1024).default(1),
  /** Interval between time ticks published on every DML channel, ms. */
  timeTickIntervalMs: int(1).default(200),
  /** A proxy that has not reported a tick for this long is dropped from the soft barrier, ms. */
  proxyTtlMs: int(100).default(10_000),
  segment: segmentSchema,
});

const flushSchema = section({
  /** Sync a segment's buffer when it holds this many bytes, bytes. */
  bufferSizeBytes: int(1 * KiB).default(16 * MiB),
  /** Node-wide buffer watermark: above it, the largest buffers are synced first, bytes. */
  memoryLimitBytes: int(1 * MiB).default(1 * GiB),
  /** Sync a buffer that has not been synced for this long, ms. */
  staleMs: int(1).default(600_000),
  /** Syncs encoding or uploading at once, node-wide. */
  syncConcurrency: int(1, 64).default(4),
});

const datanodeSchema = section({
  /** Listen address of the gRPC server. */
  host: str(/^\S+$/, 'a non-empty host name or IP address').default('0.0.0.0'),
  /** gRPC port; 0: any free port. */
  port: int(0, 65535).default(21124),
  /** host:port the master uses to reach this DataNode; empty: this machine's hostname and port. */
  advertiseAddress: str(/^(?:\S+:\d{1,5})?$/, 'host:port, or empty').default(''),
  /** TTL of the DataNode's etcd session lease, ms. */
  sessionTtlMs: int(2000).default(10_000),
  flush: flushSchema.superRefine((flush, ctx) => {
    if (flush.bufferSizeBytes > flush.memoryLimitBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['bufferSizeBytes'],
        message: `must be at most datanode.flush.memoryLimitBytes (${flush.memoryLimitBytes})`,
      });
    }
  }),
  flowgraph: section({
    /** Capacity of each queue between flowgraph nodes, messages. */
    maxQueueLength: int(1).default(16),
  }),
});

const logSchema = section({
  /** pino level. */
  level: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** The whole configuration schema (strict: unknown keys are errors). */
export const TidalConfigSchema = z.strictObject(
  {
    etcd: etcdSchema,
    kafka: kafkaSchema,
    s3: s3Schema,
    storage: storageSchema,
    kv: kvSchema,
    mq: mqSchema,
    master: masterSchema,
    datanode: datanodeSchema,
    log: logSchema,
  },
  { error: 'must be a mapping of sections (a YAML object)' },
);

/** Recursively readonly: the loaded config is deep-frozen, and its type says so. */
export type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** Recursively optional input, for `overrides`. */
export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** The validated, frozen configuration. */
export type TidalConfig = DeepReadonly<z.output<typeof TidalConfigSchema>>;
/** etcd client settings. */
export type EtcdConfig = TidalConfig['etcd'];
/** Kafka client settings. */
export type KafkaConfig = TidalConfig['kafka'];
/** S3 / MinIO client settings. */
export type S3Config = TidalConfig['s3'];
/** Object store backend choice. */
export type StorageConfig = TidalConfig['storage'];
/** Metadata KV backend choice. */
export type KvConfig = TidalConfig['kv'];
/** Message log backend choice. */
export type MqConfig = TidalConfig['mq'];
/** Master server settings. */
export type MasterConfig = TidalConfig['master'];
/** TSO settings (ms). */
export type TsoConfig = MasterConfig['tso'];
/** Segment manager settings. */
export type SegmentConfig = MasterConfig['segment'];
/** DataNode server settings. */
export type DataNodeConfig = TidalConfig['datanode'];
/** DataNode sync triggers. */
export type FlushConfig = DataNodeConfig['flush'];
/** Logging settings. */
export type LogConfig = TidalConfig['log'];
/** What `overrides` (and, loosely, the YAML file) may contain. */
export type TidalConfigInput = DeepPartial<z.input<typeof TidalConfigSchema>>;

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** YAML file to read; none: defaults only. */
  file?: string;
  /** Environment to read `TIDAL_*` overrides from. Default: `process.env`; pass `{}` to ignore it. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Values that win over file and environment (CLI flags, tests). */
  overrides?: TidalConfigInput;
}

type Plain = Record<string, unknown>;

const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

/** camelCase → SCREAMING_SNAKE (`windowMs` → `WINDOW_MS`, `s3` → `S3`). */
function screamingSnake(segment: string): string {
  return segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2').toUpperCase();
}

function leafPaths(obj: Plain, prefix: string[] = []): Array<{ path: string[]; value: unknown }> {
  const out: Array<{ path: string[]; value: unknown }> = [];
  for (const [k, v] of Object.entries(obj)) {
    if (isPlain(v)) out.push(...leafPaths(v, [...prefix, k]));
    else out.push({ path: [...prefix, k], value: v });
  }
  return out;
}

const DEFAULTS: Plain = TidalConfigSchema.parse({}) as Plain;

/** Environment variable name → key path, for every leaf of the schema. */
const ENV_TO_PATH: ReadonlyMap<string, string[]> = (() => {
  const map = new Map<string, string[]>();
  for (const { path } of leafPaths(DEFAULTS)) {
    const name = `TIDAL_${path.map(screamingSnake).join('_')}`;
    const clash = map.get(name);
    if (clash) throw new Error(`config: ${path.join('.')} and ${clash.join('.')} map to the same variable ${name}`);
    map.set(name, path);
  }
  return map;
})();

const SECTION_ENV_PREFIXES = Object.keys(DEFAULTS).map((s) => `TIDAL_${screamingSnake(s)}_`);

/** The environment variable of every key, `[name, dotted key path]`, in schema order. */
export function configEnvVars(): Array<[string, string]> {
  return [...ENV_TO_PATH].map(([name, path]) => [name, path.join('.')]);
}

function getPath(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur = obj;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

/** Merges `src` into `dst` (objects merge, everything else replaces), noting each key's source. */
function mergeInto(dst: Plain, src: Plain, source: string, sources: Map<string, string>, prefix = ''): void {
  for (const [k, v] of Object.entries(src)) {
    if (v === undefined) continue;
    const key = prefix ? `${prefix}.${k}` : k;
    if (isPlain(v)) {
      const cur = dst[k];
      // A section given as a non-object stays wrong (zod reports it); an object merges into it.
      if (!isPlain(cur)) dst[k] = {};
      if (!sources.has(key)) sources.set(key, source);
      mergeInto(dst[k] as Plain, v, source, sources, key);
    } else {
      dst[k] = v;
      sources.set(key, source);
    }
  }
}

function setPath(obj: Plain, path: readonly string[], value: unknown): void {
  let cur = obj;
  for (const seg of path.slice(0, -1)) {
    if (cur[seg] === undefined) cur[seg] = {};
    // A section the file gave as a non-object stays as it is, so zod reports it.
    if (!isPlain(cur[seg])) return;
    cur = cur[seg] as Plain;
  }
  cur[path[path.length - 1] as string] = value;
}

/** Parses an environment string by the type of the key's default; unparsable strings stay strings (zod reports them). */
function parseEnvValue(raw: string, like: unknown): unknown {
  if (Array.isArray(like)) {
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  if (typeof like === 'number') {
    const t = raw.trim();
    const n = Number(t);
    return t !== '' && Number.isFinite(n) ? n : raw;
  }
  if (typeof like === 'boolean') {
    const t = raw.trim().toLowerCase();
    if (t === 'true' || t === '1') return true;
    if (t === 'false' || t === '0') return false;
    return raw;
  }
  return raw;
}

function isSecretPath(path: string): boolean {
  for (const s of SECRET_KEYS) if (path === s || path.startsWith(`${s}.`) || path.startsWith(`${s}[`)) return true;
  return false;
}

/** A short, secret-free rendering of a value for an error message. */
function show(value: unknown, path: string): string {
  if (isSecretPath(path)) return REDACTED;
  const redacted = JSON.stringify(value, (k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    // Inside a wrong-typed section, anything named like a secret is hidden too.
    if (k !== '' && /secret|password|token|accesskey/i.test(k)) return REDACTED;
    return v;
  });
  const text = redacted === undefined ? String(value) : redacted;
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/** The source of the value at `path`: the nearest key (or enclosing section) someone set. */
function sourceOf(path: readonly PropertyKey[], sources: ReadonlyMap<string, string>): string {
  const keys = path.filter((p): p is string => typeof p === 'string');
  for (let n = keys.length; n > 0; n -= 1) {
    const s = sources.get(keys.slice(0, n).join('.'));
    if (s !== undefined) return s;
  }
  return 'defaults';
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown, sources: ReadonlyMap<string, string>): string {
  if (issue.code === 'unrecognized_keys') {
    const parent = formatPath(issue.path);
    const allowed = Object.keys((parent === '' ? DEFAULTS : getPath(DEFAULTS, issue.path)) as Plain);
    return issue.keys
      .map((k) => {
        const key = parent === '' ? k : `${parent}.${k}`;
        const where = sources.get(key) ?? sourceOf([...issue.path, k], sources);
        return `config: unknown key ${key} (from ${where}); allowed keys${parent === '' ? '' : ` of ${parent}`}: ${allowed.join(', ')}`;
      })
      .join('; ');
  }
  const key = formatPath(issue.path);
  // A key nobody set holds its default (cross-key checks can flag one).
  const given = getPath(input, issue.path);
  const value = given === undefined ? getPath(DEFAULTS, issue.path) : given;
  const got = value === undefined ? 'nothing' : show(value, key);
  return `config: ${key} ${issue.message} (got ${got} from ${sourceOf(issue.path, sources)})`;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function readYaml(file: string): Plain {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TidalError(ErrorCode.NotFound, `config: file ${file} not found`, { cause: err, context: { file } });
    throw new TidalError(ErrorCode.InvalidArgument, `config: cannot read ${file} (${code ?? 'error'})`, { cause: err, context: { file } });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    // yaml's own message quotes the offending line, which may hold a secret: report only where.
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : '';
    const code = err instanceof YAMLParseError ? ` (${err.code})` : '';
    throw new TidalError(ErrorCode.InvalidArgument, `config: ${file} is not valid YAML${code}${where}`, { context: { file } });
  }
  if (doc === null || doc === undefined) return {};
  if (!isPlain(doc)) throw new TidalError(ErrorCode.InvalidArgument, `config: ${file} must hold a YAML mapping of sections (etcd, kafka, ...)`, { context: { file } });
  return doc;
}

/**
 * Builds the configuration: schema defaults, then the YAML `file`, then `TIDAL_*` variables from
 * `env`, then `overrides`; validates it and returns it deep-frozen.
 *
 * @throws TidalError INVALID_ARGUMENT naming every bad key path, what is allowed, the offending
 *   value (secrets redacted) and where it came from; unknown keys and unknown `TIDAL_<SECTION>_*`
 *   variables are errors. TidalError NOT_FOUND if `file` does not exist.
 */
export function loadConfig(options: LoadConfigOptions = {}): TidalConfig {
  const env = options.env ?? process.env;
  const input: Plain = {};
  const sources = new Map<string, string>();

  if (options.file !== undefined) mergeInto(input, readYaml(options.file), `file ${options.file}`, sources);

  const unknownEnv: string[] = [];
  for (const name of Object.keys(env).sort()) {
    const raw = env[name];
    if (raw === undefined || !name.startsWith('TIDAL_')) continue;
    const path = ENV_TO_PATH.get(name);
    if (path === undefined) {
      if (SECTION_ENV_PREFIXES.some((p) => name.startsWith(p))) unknownEnv.push(name);
      continue;
    }
    setPath(input, path, parseEnvValue(raw, getPath(DEFAULTS, path)));
    sources.set(path.join('.'), name);
  }
  if (unknownEnv.length > 0) {
    throw new TidalError(
      ErrorCode.InvalidArgument,
      `config: unknown environment variable ${unknownEnv.join(', ')}; see configs/README.md for the names (e.g. TIDAL_MASTER_TSO_WINDOW_MS)`,
      { context: { variables: unknownEnv } },
    );
  }

  if (options.overrides !== undefined) mergeInto(input, options.overrides as Plain, 'overrides', sources);

  const result = TidalConfigSchema.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues;
    const message = issues.map((i) => describeIssue(i, input, sources)).join('; ');
    throw new TidalError(ErrorCode.InvalidArgument, message, {
      context: { keys: issues.map((i) => formatPath(i.path)) },
    });
  }
  return deepFreeze(result.data) as TidalConfig;
}

/** The defaults alone (no file, no environment), frozen. */
export function defaultConfig(): TidalConfig {
  return loadConfig({ env: {} });
}

/**
 * Every leaf as `[dotted key, string value]`, secrets replaced by {@link REDACTED}; lists are
 * comma-joined. For GetSysConfigs, `tidal config` and startup logs.
 */
export function flattenConfig(config: TidalConfig): Array<[string, string]> {
  return leafPaths(config as unknown as Plain).map(({ path, value }) => {
    const key = path.join('.');
    if (SECRET_KEYS.has(key)) return [key, REDACTED];
    return [key, Array.isArray(value) ? value.join(',') : String(value)];
  });
}
