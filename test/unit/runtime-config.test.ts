import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  loadCluster,
  loadReplicaOverrides,
  parseReplicaId,
  readClientSecret,
  readOperatorSecret,
  readReplicaSecret,
  readSecretKey,
  replicaEntry,
  validateClusterConfig,
  type ClusterConfig,
} from '../../src/runtime/config.js';
import { initCluster } from '../../src/runtime/init.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-cfg-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function fresh(): Promise<ClusterConfig> {
  return (await initCluster({ dir, basePort: 7000 })).config;
}
// biome-ignore lint/suspicious/noExplicitAny: tests reach into the config freely to break it
type Loose = Record<string, any>;
function mutate(c: ClusterConfig, f: (c: Loose) => void): unknown {
  const copy = JSON.parse(JSON.stringify(c)) as Loose;
  f(copy);
  return copy;
}
function message(raw: unknown): string {
  try {
    validateClusterConfig(raw);
  } catch (e) {
    expect(e).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('initCluster', () => {
  it('writes keys (0600 in a 0700 dir), cluster.json and a directory per replica; the cluster loads', async () => {
    const r = await initCluster({ dir, replicas: 4, clients: 2, basePort: 7100 });
    expect(r.replaced).toBe(false);
    expect(statSync(path.join(dir, 'keys')).mode & 0o777).toBe(0o700);
    for (const f of ['replica-0.key', 'replica-3.key', 'client-client0.key', 'client-client1.key', 'operator.key'])
      expect(statSync(path.join(dir, 'keys', f)).mode & 0o777, f).toBe(0o600);
    for (let i = 0; i < 4; i++) expect(existsSync(path.join(dir, 'replicas', String(i), 'replica.json'))).toBe(true);
    const c = await loadCluster(dir);
    expect(c.config).toEqual(r.config);
    expect(c.config.protocol).toMatchObject({ n: 4, f: 1, checkpointInterval: 16, logWindow: 64 });
    expect(c.config.replicas.map((x) => x.port)).toEqual([7100, 7101, 7102, 7103]);
    // every key file matches its public key
    for (let i = 0; i < 4; i++) await readReplicaSecret(c, i);
    await readClientSecret(c, 'client1');
    await readOperatorSecret(c);
    expect(await loadReplicaOverrides(c, 0)).toMatchObject({ fsync: true });
  });

  it('--faults F alone gives n = 3F+1; an impossible combination is a BAD_ARGUMENT', async () => {
    expect((await initCluster({ dir, faults: 2 })).config.protocol).toMatchObject({ n: 7, f: 2 });
    await expect(initCluster({ dir: path.join(dir, 'x'), replicas: 4, faults: 2 })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: expect.stringContaining('n >= 3f+1'),
    });
    await expect(initCluster({ dir: path.join(dir, 'y'), replicas: 0 })).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
      message: '--replicas must be an integer 1-256, got 0',
    });
    await expect(initCluster({ dir: path.join(dir, 'z'), basePort: 65534 })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('refuses an existing cluster without force; force replaces keys and data, but not while a replica runs', async () => {
    const first = await initCluster({ dir });
    await expect(initCluster({ dir })).rejects.toMatchObject({ code: 'CLUSTER_EXISTS', message: expect.stringContaining('--force') });
    writeFileSync(path.join(dir, 'replicas', '0', 'wal.jsonl'), 'old data\n');
    writeFileSync(path.join(dir, 'replicas', '1', 'replica.pid'), `${process.pid}\n`); // a live process
    await expect(initCluster({ dir, force: true })).rejects.toMatchObject({ code: 'REPLICA_RUNNING', message: expect.stringContaining('replica 1') });
    rmSync(path.join(dir, 'replicas', '1', 'replica.pid'));
    const second = await initCluster({ dir, force: true });
    expect(second.replaced).toBe(true);
    expect(second.config.operator.publicKey).not.toBe(first.config.operator.publicKey);
    expect(existsSync(path.join(dir, 'replicas', '0', 'wal.jsonl'))).toBe(false);
  });
});

describe('cluster.json validation', () => {
  it('names the field and the fix', async () => {
    const c = await fresh();
    expect(message(mutate(c, (x) => (x.replicas[2].port = 70000)))).toBe('cluster.json: replicas[2].port must be an integer 1-65535');
    expect(message(mutate(c, (x) => (x.replicas[2].port = 'abc')))).toBe('cluster.json: replicas[2].port must be an integer 1-65535');
    expect(message(mutate(c, (x) => delete x.replicas[1].host))).toBe('cluster.json: replicas[1].host is missing (a host name or IP address)');
    expect(message(mutate(c, (x) => (x.protocol.f = 2)))).toMatch(
      /^cluster.json: protocol.f is 2 but n = 4 can tolerate at most f = 1 \(PBFT needs n >= 3f\+1\)/,
    );
    expect(message(mutate(c, (x) => (x.protocol.logWindow = 40)))).toMatch(
      /^cluster.json: protocol.logWindow must be a multiple of protocol.checkpointInterval \(16\)/,
    );
    expect(message(mutate(c, (x) => (x.replicas[3].port = x.replicas[1].port)))).toMatch(/^cluster.json: replicas\[3\].port duplicates replicas\[1\]/);
    expect(message(mutate(c, (x) => (x.replicas[0].publicKey = 'xyz')))).toBe(
      'cluster.json: replicas[0].publicKey must be a 32-byte Ed25519 public key in lower-case hex (64 characters)',
    );
    expect(message(mutate(c, (x) => (x.operator.publicKey = x.operator.publicKey.slice(2))))).toMatch(/operator.publicKey must be a 32-byte/);
    expect(message(mutate(c, (x) => x.replicas.pop()))).toMatch(/^cluster.json: replicas has 3 entries but protocol.n is 4/);
    expect(message(mutate(c, (x) => (x.replicas[1].id = 5)))).toMatch(/replicas\[1\].id must be 1/);
    expect(message(mutate(c, (x) => (x.replicas[2].publicKey = x.replicas[0].publicKey)))).toMatch(
      /replicas\[2\].publicKey duplicates the key of replicas\[0\]/,
    );
    expect(message(mutate(c, (x) => (x.protcol = {})))).toBe('cluster.json: has unknown field "protcol"; remove it (check the spelling)');
    expect(message(mutate(c, (x) => (x.version = 2)))).toBe('cluster.json: version must be 1 (this pbft reads cluster.json version 1)');
    expect(message(mutate(c, (x) => (x.crypto = 'rsa')))).toBe('cluster.json: crypto must be "sodium", "node" or "noble"');
    expect(message(mutate(c, (x) => (x.clients[0].id = 'has space')))).toMatch(/clients\[0\].id must be 1-64 characters/);
    expect(message(mutate(c, (x) => (x.runtime.reconnectMaxMs = 10)))).toMatch(/runtime.reconnectMaxMs must be at least runtime.reconnectMinMs/);
    expect(message([])).toBe('cluster.json: (top level) must be a JSON object');
    // several problems: the first is named, the count of the others too
    expect(
      message(
        mutate(c, (x) => {
          x.replicas[0].port = 0;
          x.replicas[1].port = 0;
        }),
      ),
    ).toBe('cluster.json: replicas[0].port must be an integer 1-65535 (and 2 more problems)');
  });

  it('loadCluster: missing directory, bad JSON and a bad field are one-line PbftErrors', async () => {
    await expect(loadCluster(path.join(dir, 'nope'))).rejects.toMatchObject({ code: 'CONFIG_MISSING', message: expect.stringContaining('pbft init') });
    const c = await fresh();
    writeFileSync(path.join(dir, 'cluster.json'), '{ "version": 1, ');
    await expect(loadCluster(dir)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^cluster.json: not valid JSON/) });
    writeFileSync(path.join(dir, 'cluster.json'), JSON.stringify(mutate(c, (x) => (x.protocol.n = 5))));
    await expect(loadCluster(dir)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('replicas has 4 entries but protocol.n is 5'),
    });
  });

  it('replica ids from the command line', async () => {
    await fresh();
    const c = await loadCluster(dir);
    expect(parseReplicaId('2', c)).toBe(2);
    expect(() => parseReplicaId('7', c)).toThrow('unknown replica 7: this cluster has replicas 0-3');
    expect(() => parseReplicaId('x')).toThrow(/"x" is not a replica id/);
    expect(() => replicaEntry(c, -1)).toThrow(/unknown replica -1/);
  });

  it('replica.json overrides: optional, validated', async () => {
    await fresh();
    const c = await loadCluster(dir);
    rmSync(c.paths.replicaJson(1));
    expect(await loadReplicaOverrides(c, 1)).toEqual({});
    writeFileSync(c.paths.replicaJson(1), JSON.stringify({ fsync: 'yes' }));
    await expect(loadReplicaOverrides(c, 1)).rejects.toThrow('replicas/1/replica.json: fsync must be true or false');
  });
});

describe('key files', () => {
  it('missing, malformed, mismatched and unreadable keys are one-line errors; loose permissions warn', async () => {
    await fresh();
    const c = await loadCluster(dir);
    const k = c.paths.replicaKey(1);
    const good = readFileSync(k, 'utf8');
    rmSync(k);
    await expect(readReplicaSecret(c, 1)).rejects.toMatchObject({
      code: 'KEY_MISSING',
      message: `key file ${k} is missing; restore it from a backup or recreate the cluster with "pbft init --force"`,
    });
    writeFileSync(k, 'not a key', { mode: 0o600 });
    await expect(readReplicaSecret(c, 1)).rejects.toMatchObject({ code: 'KEY_MALFORMED' });
    writeFileSync(k, readFileSync(c.paths.replicaKey(2), 'utf8'), { mode: 0o600 });
    await expect(readReplicaSecret(c, 1)).rejects.toMatchObject({
      code: 'KEY_MALFORMED',
      message: expect.stringContaining('does not match replicas[1].publicKey'),
    });
    writeFileSync(k, good, { mode: 0o600 });
    chmodSync(k, 0o644);
    const warnings: string[] = [];
    await readSecretKey(k, { warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([`key file ${k} is readable by group or others (mode 0644); run: chmod 600 ${k}`]);
    if (process.getuid?.() !== 0) {
      chmodSync(k, 0o000);
      await expect(readSecretKey(k)).rejects.toMatchObject({ code: 'KEY_UNREADABLE' });
    }
  });
});
