/**
 * The resource commands of the real `tidal` binary against a real `tidal master` process on the
 * harness's etcd and Kafka (no DataNode here: see cli-insert.test.ts for the data path). Every
 * command has a happy path (json output parsed) and a bad-input run (one line on stderr, non-zero
 * exit).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupNamespace, killAllMasterProcesses, masterNamespace, spawnMaster, type MasterProcess } from '../integration/helpers/master.js';
import { oneLineError, runJson, runTidal } from './helpers/cli.js';

const ns = masterNamespace('cli-res');
const dir = mkdtempSync(join(tmpdir(), 'tidal-cli-res-'));
let master: MasterProcess;
let m: string[];

beforeAll(async () => {
  master = await spawnMaster(ns);
  m = ['--master', master.address];
  // The first command waits for the election: a fresh master serves within a few seconds.
  const deadline = Date.now() + 30_000;
  while ((await runTidal(['collection', 'list', ...m])).code !== 0) {
    if (Date.now() > deadline) throw new Error(`master did not serve:\n${master.log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

afterAll(async () => {
  await killAllMasterProcesses();
  await cleanupNamespace(ns);
  rmSync(dir, { recursive: true, force: true });
});

describe('tidal (binary)', () => {
  it('cli - --help lists the resource commands and exits 0', async () => {
    const res = await runTidal(['--help']);
    expect(res.code).toBe(0);
    for (const cmd of ['collection', 'partition', 'segment', 'channel', 'node', 'config', 'insert', 'binlog', 'master', 'datanode']) expect(res.stdout).toContain(cmd);
  });

  it('cli - an unknown command is a one-line usage error with commander\'s exit code', async () => {
    const res = await runTidal(['collection', 'lst']);
    expect(oneLineError(res)).toBe("tidal: unknown command 'lst' (Did you mean list?) (see --help)");
    expect(res.code).toBe(1);
  });

  it('cli - a misspelt command keeps commander\'s suggestion on its one line', async () => {
    const res = await runTidal(['colection', 'list']);
    expect(oneLineError(res)).toBe("tidal: unknown command 'colection' (Did you mean collection?) (see --help)");
    expect(res.code).toBe(1);
  });

  it('cli - tidal master and tidal datanode refuse a bad --port in one line, before starting anything', async () => {
    for (const [cmd, port] of [['master', 'abc'], ['datanode', '70000']] as const) {
      const res = await runTidal([cmd, '--port', port]);
      expect(oneLineError(res)).toBe(`tidal: --port must be an integer from 0 to 65535 (0: any free port), got "${port}"`);
      expect(res.code).toBe(1);
    }
  });

  it('cli - an unreachable master is a one-line error, not a hang', async () => {
    const res = await runTidal(['collection', 'list', '--master', '127.0.0.1:1']);
    expect(oneLineError(res)).toMatch(/^tidal: cannot reach the master at 127\.0\.0\.1:1 within 5000 ms/);
    expect(res.code).toBe(1);
  });

  it('cli - a malformed --master and an unknown --output are one-line errors', async () => {
    expect(oneLineError(await runTidal(['collection', 'list', '--master', 'nohost']))).toBe('tidal: --master must be host:port (port 1-65535), got "nohost"');
    const bad = await runTidal(['collection', 'list', ...m, '--output', 'xml']);
    expect(oneLineError(bad)).toMatch(/argument 'xml' is invalid\. Allowed choices are table, json/);
    expect(bad.code).toBe(1);
  });
});

describe('tidal collection', () => {
  it('cli - create from compact flags, list, describe (json)', async () => {
    const created = await runJson<{ collectionId: string; vchannels: string[] }>([
      'collection', 'create', 'books', ...m, '--pk', 'id:int64', '--vector', 'embedding:float32:8', '--field', 'title:varchar:32', '--field', 'score:float:nullable', '--shards', '2',
    ]);
    expect(created.collectionId).toMatch(/^[1-9][0-9]*$/);
    expect(created.vchannels).toHaveLength(2);

    const list = await runJson<{ collectionName: string; collectionId: string }[]>(['collection', 'list', ...m]);
    expect(list).toContainEqual(expect.objectContaining({ collectionName: 'books', collectionId: created.collectionId }));

    const desc = await runJson<{ collectionId: string; shardsNum: number; schema: { fields: Record<string, unknown>[] }; vchannels: { vchannel: string }[]; partitions: { partitionName: string }[] }>([
      'collection', 'describe', 'books', ...m,
    ]);
    expect(desc.collectionId).toBe(created.collectionId);
    expect(desc.shardsNum).toBe(2);
    expect(desc.schema.fields.map((f) => [f.name, f.dataType, f.isPrimaryKey, f.dim, f.maxLength, f.nullable])).toEqual([
      ['id', 'Int64', true, 0, 0, false],
      ['embedding', 'FloatVector', false, 8, 0, false],
      ['title', 'VarChar', false, 0, 32, false],
      ['score', 'Float', false, 0, 0, true],
    ]);
    expect(desc.vchannels.map((v) => v.vchannel)).toEqual(created.vchannels);
    expect(desc.partitions.map((p) => p.partitionName)).toEqual(['_default']);

    const table = await runTidal(['collection', 'describe', 'books', ...m]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('float_vector(8)');
  });

  it('cli - create from a schema file (snake_case names)', async () => {
    const file = join(dir, 'schema.json');
    writeFileSync(file, JSON.stringify({ fields: [{ name: 'pk', data_type: 'Int64', is_primary_key: true, auto_id: true }, { name: 'v', data_type: 'FloatVector', dim: 4 }] }));
    await runJson(['collection', 'create', 'from_file', ...m, '--schema', file]);
    const desc = await runJson<{ schema: { fields: { name: string; autoId: boolean; dim: number }[] } }>(['collection', 'describe', 'from_file', ...m]);
    expect(desc.schema.fields.map((f) => [f.name, f.autoId, f.dim])).toEqual([
      ['pk', true, 0],
      ['v', false, 4],
    ]);
  });

  it('cli - create rejects a missing schema, a bad flag, a bad file and what the master refuses, in one line', async () => {
    expect(oneLineError(await runTidal(['collection', 'create', 'x', ...m]))).toBe(
      'tidal: give a schema: --schema file.json, or --pk id:int64 --vector vec:float32:128 [--field name:varchar:64 ...]',
    );
    expect(oneLineError(await runTidal(['collection', 'create', 'x', ...m, '--pk', 'id:int32', '--vector', 'v:4']))).toMatch(/^tidal: --pk "id:int32": unknown type "int32"/);
    expect(oneLineError(await runTidal(['collection', 'create', 'x', ...m, '--pk', 'id:int64', '--vector', 'v:float32:zero']))).toBe(
      'tidal: --vector "v:float32:zero": dim must be a positive integer, got "zero"',
    );
    expect(oneLineError(await runTidal(['collection', 'create', 'x', ...m, '--schema', join(dir, 'missing.json')]))).toMatch(/^tidal: cannot read schema file .*missing\.json: ENOENT$/);
    const notJson = join(dir, 'bad.json');
    writeFileSync(notJson, '{"fields": [{"name": 1}]}');
    expect(oneLineError(await runTidal(['collection', 'create', 'x', ...m, '--schema', notJson]))).toMatch(/^tidal: schema file .*bad\.json: fields\.0\.name /);
    // Two fields named alike: the master's schema validation answers.
    const dup = await runTidal(['collection', 'create', 'x', ...m, '--pk', 'id:int64', '--vector', 'id:4']);
    expect(oneLineError(dup)).toMatch(/^tidal: .*"id"/);
    expect(oneLineError(await runTidal(['collection', 'create', 'books', ...m, '--pk', 'id:int64', '--vector', 'v:4']))).toMatch(/^tidal: .*books.*exists/i);
    expect(oneLineError(await runTidal(['collection', 'create', 'x', ...m, '--pk', 'id:int64', '--vector', 'v:4', '--shards', '0']))).toBe(
      'tidal: --shards must be an integer from 1 to 1024, got "0"',
    );
  });

  it('cli - describe and drop of an unknown collection are one-line NOT_FOUND errors', async () => {
    const d = await runTidal(['collection', 'describe', 'no_such', ...m]);
    expect(oneLineError(d)).toMatch(/^tidal: .*no_such/);
    expect(d.code).toBe(1);
    expect(oneLineError(await runTidal(['collection', 'drop', 'no_such', ...m]))).toMatch(/^tidal: .*no_such/);
  });

  it('cli - drop removes the collection from the list', async () => {
    await runJson(['collection', 'create', 'to_drop', ...m, '--pk', 'id:int64', '--vector', 'v:4']);
    expect(await runJson(['collection', 'drop', 'to_drop', ...m])).toEqual({ dropped: 'to_drop' });
    const list = await runJson<{ collectionName: string }[]>(['collection', 'list', ...m]);
    expect(list.map((c) => c.collectionName)).not.toContain('to_drop');
  });
});

describe('tidal partition', () => {
  it('cli - create, list and drop a partition (json)', async () => {
    await runJson(['partition', 'create', 'books', 'p2024', ...m]);
    const list = await runJson<{ partitionName: string; partitionId: string }[]>(['partition', 'list', 'books', ...m]);
    expect(list.map((p) => p.partitionName)).toEqual(['_default', 'p2024']);
    expect(await runJson(['partition', 'drop', 'books', 'p2024', ...m])).toEqual({ collectionName: 'books', partitionName: 'p2024', dropped: true });
    const after = await runJson<{ partitionName: string }[]>(['partition', 'list', 'books', ...m]);
    expect(after.map((p) => p.partitionName)).toEqual(['_default']);
  });

  it('cli - partition commands on an unknown collection or partition are one-line errors', async () => {
    expect(oneLineError(await runTidal(['partition', 'list', 'no_such', ...m]))).toMatch(/^tidal: .*no_such/);
    expect(oneLineError(await runTidal(['partition', 'create', 'no_such', 'p', ...m]))).toMatch(/^tidal: .*no_such/);
    expect(oneLineError(await runTidal(['partition', 'drop', 'books', 'nope', ...m]))).toMatch(/^tidal: .*nope/);
    const missingArg = await runTidal(['partition', 'create', 'books', ...m]);
    expect(oneLineError(missingArg)).toBe("tidal: missing required argument 'partition' (see --help)");
  });
});

describe('tidal segment', () => {
  it('cli - list is empty for a collection without rows; flush answers with nothing to flush', async () => {
    expect(await runJson(['segment', 'list', 'books', ...m])).toEqual([]);
    const flush = await runJson<{ collectionName: string; flushedNow: string[]; alreadyFlushed: string[] }>(['segment', 'flush', 'books', ...m]);
    expect(flush).toMatchObject({ collectionName: 'books', flushedNow: [], alreadyFlushed: [] });
  });

  it('cli - segment commands reject bad ids, unknown segments, collections and partitions in one line', async () => {
    expect(oneLineError(await runTidal(['segment', 'describe', 'abc', ...m]))).toBe('tidal: segment id must be a positive integer id, got "abc"');
    expect(oneLineError(await runTidal(['segment', 'describe', '999999999', ...m]))).toMatch(/^tidal: .*999999999/);
    expect(oneLineError(await runTidal(['segment', 'list', 'no_such', ...m]))).toMatch(/^tidal: .*no_such/);
    expect(oneLineError(await runTidal(['segment', 'list', 'books', '--partition', 'nope', ...m]))).toBe(
      'tidal: partition "nope" not found in collection "books" (its partitions: _default)',
    );
    expect(oneLineError(await runTidal(['segment', 'flush', 'no_such', ...m]))).toMatch(/^tidal: .*no_such/);
  });
});

describe('tidal channel, node, config', () => {
  it('cli - channel list shows every vchannel, unowned without a DataNode, with its start position', async () => {
    const list = await runJson<{ vchannel: string; collectionName: string; nodeId: string; checkpointStored: boolean; checkpoint: { msgId: string } | null }[]>([
      'channel', 'list', '--collection', 'books', ...m,
    ]);
    expect(list).toHaveLength(2);
    for (const c of list) {
      expect(c).toMatchObject({ collectionName: 'books', nodeId: '0', checkpointStored: false });
      expect(c.checkpoint?.msgId).toMatch(/^[0-9]+$/);
    }
    const table = await runTidal(['channel', 'list', ...m]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('(none)');
    expect(oneLineError(await runTidal(['channel', 'list', '--collection', 'no_such', ...m]))).toMatch(/^tidal: .*no_such/);
  });

  it('cli - node list shows the master as leader; an unknown role is a usage error', async () => {
    const nodes = await runJson<{ nodeId: string; role: string; leader: boolean }[]>(['node', 'list', ...m]);
    expect(nodes).toEqual([expect.objectContaining({ nodeId: master.serverId.toString(), role: 'master', leader: true })]);
    const bad = await runTidal(['node', 'list', '--role', 'proxy', ...m]);
    expect(oneLineError(bad)).toMatch(/argument 'proxy' is invalid\. Allowed choices are master, datanode/);
  });

  it('cli - config get by key and by prefix; an unknown key is a one-line error', async () => {
    expect(await runJson(['config', 'get', 'master.dmlChannelNum', ...m])).toEqual({ 'master.dmlChannelNum': '2' });
    const tso = await runJson<Record<string, string>>(['config', 'get', 'master.tso', ...m]);
    expect(Object.keys(tso).sort()).toEqual(['master.tso.tickMs', 'master.tso.windowMs']);
    const all = await runJson<Record<string, string>>(['config', 'get', ...m]);
    expect(all['etcd.rootPath']).toBe(ns.rootPath);
    expect(all['s3.secretAccessKey']).toBe('[redacted]');
    expect(oneLineError(await runTidal(['config', 'get', 'master.nope', ...m]))).toMatch(/^tidal: no configuration key "master\.nope"/);
    expect(oneLineError(await runTidal(['config', 'get', 'bad key', ...m]))).toBe('tidal: config key "bad key" is not a dotted key path such as master.tso.windowMs');
  });
});
