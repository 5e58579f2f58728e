import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomSecretKey } from '../../src/crypto/index.js';
import { AdminGate, signAdminCommand } from '../../src/runtime/admin.js';
import { readOperatorSecret, type LoadedCluster } from '../../src/runtime/config.js';
import { initCluster } from '../../src/runtime/init.js';
import { NetFaults } from '../../src/runtime/netfaults.js';
import { backoffMs, parseAdminCommand, parseHello } from '../../src/runtime/wire.js';

let dir: string;
let cluster: LoadedCluster;
let op: string;
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-admin-'));
  cluster = (await initCluster({ dir })).cluster;
  op = await readOperatorSecret(cluster);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('AdminGate', () => {
  it('accepts a fresh operator-signed command once; refuses replay, other keys, other targets, stale clocks', () => {
    let now = 1_000_000;
    const gate = new AdminGate(cluster, 2, { now: () => now });
    const cmd = signAdminCommand(cluster, 2, { kind: 'net', action: 'isolate' }, op, now);
    expect(gate.verify(cmd)).toEqual({ ok: true, command: { kind: 'net', action: 'isolate' } });
    expect(gate.verify(cmd)).toEqual({ ok: false, error: 'command was already received (replayed)' });
    expect(gate.verify(signAdminCommand(cluster, 2, { kind: 'clear' }, randomSecretKey(), now))).toMatchObject({
      ok: false,
      error: expect.stringContaining('signature'),
    });
    expect(gate.verify(signAdminCommand(cluster, 1, { kind: 'clear' }, op, now))).toMatchObject({ ok: false, error: 'command is for replica 1, not 2' });
    expect(gate.verify(signAdminCommand(cluster, 2, { kind: 'clear' }, op, now - 61_000))).toMatchObject({
      ok: false,
      error: expect.stringContaining('clock'),
    });
    expect(gate.verify({ body: cmd.body })).toMatchObject({ ok: false, error: expect.stringContaining('not signed') });
    expect(gate.verify(null)).toMatchObject({ ok: false });
    expect(gate.verify(signAdminCommand(cluster, 2, { kind: 'reboot' } as never, op, now))).toMatchObject({
      ok: false,
      error: expect.stringContaining('invalid command'),
    });
    now += 1;
    expect(gate.verify(signAdminCommand(cluster, 2, { kind: 'faults' }, op, now))).toMatchObject({ ok: true });
  });
});

describe('wire parsing', () => {
  it('admin commands are validated field by field', () => {
    expect(parseAdminCommand({ kind: 'net', action: 'partition', peers: [3, 1, 1] }, 4)).toEqual({ kind: 'net', action: 'partition', peers: [1, 3] });
    expect(parseAdminCommand({ kind: 'net', action: 'partition', peers: [] }, 4)).toMatch(/needs peers/);
    expect(parseAdminCommand({ kind: 'net', action: 'partition', peers: [4] }, 4)).toMatch(/replica ids 0-3/);
    expect(parseAdminCommand({ kind: 'net', action: 'delay' }, 4)).toMatch(/needs ms/);
    expect(parseAdminCommand({ kind: 'net', action: 'drop', rate: 1.5 }, 4)).toMatch(/rate must be/);
    expect(parseAdminCommand({ kind: 'byzantine', strategy: 'equivocate' }, 4)).toEqual({ kind: 'byzantine', strategy: 'equivocate' });
    expect(parseAdminCommand({ kind: 'byzantine', strategy: 'Bad Name' }, 4)).toMatch(/strategy/);
    expect(parseAdminCommand({ kind: 'clear', extra: 1 }, 4)).toBe('unexpected fields');
    expect(parseAdminCommand({ kind: 'net', action: 'partition', clients: true }, 4)).toEqual({ kind: 'net', action: 'partition', clients: true });
    expect(parseAdminCommand({ kind: 'net', action: 'partition', clients: false }, 4)).toMatch(/clients: true is for partition and heal/);
    expect(parseAdminCommand({ kind: 'net', action: 'delay', ms: 5, clients: true }, 4)).toMatch(/clients: true is for partition and heal/);
    expect(parseAdminCommand({ kind: 'net', action: 'drop', rate: 0.5, link: 'clients' }, 4)).toEqual({
      kind: 'net',
      action: 'drop',
      rate: 0.5,
      link: 'clients',
    });
    expect(parseAdminCommand({ kind: 'net', action: 'drop', rate: 0.5, link: 'everything' }, 4)).toMatch(/link \(replicas or clients\)/);
    expect(parseAdminCommand({ kind: 'net', action: 'isolate', link: 'clients' }, 4)).toMatch(/link \(replicas or clients\)/);
  });

  it('hellos', () => {
    expect(parseHello({ type: 'hello', role: 'admin' })).toEqual({ type: 'hello', role: 'admin' });
    expect(parseHello({ type: 'hello', role: 'replica', replica: -1, sig: 'ab'.repeat(64) })).toMatch(/not a replica id/);
    expect(parseHello({ type: 'hello', role: 'root' })).toMatch(/role/);
  });

  it('backoff grows, is capped, and jitters within [d/2, d]', () => {
    expect(backoffMs(0, 50, 2000, () => 0)).toBe(25);
    expect(backoffMs(0, 50, 2000, () => 1)).toBe(50);
    expect(backoffMs(3, 50, 2000, () => 1)).toBe(400);
    expect(backoffMs(20, 50, 2000, () => 1)).toBe(2000);
    expect(backoffMs(1000, 50, 2000, () => 0.5)).toBe(1500);
  });
});

describe('NetFaults', () => {
  it('isolate, partition, delay, drop and heal', () => {
    const f = new NetFaults(() => 0.25);
    expect(f.decide(1)).toEqual({ drop: false, delayMs: 0 });
    f.apply({ kind: 'net', action: 'partition', peers: [1, 2] });
    expect(f.decide(1)).toEqual({ drop: true, reason: 'partitioned' });
    expect(f.decide(3)).toEqual({ drop: false, delayMs: 0 });
    expect(f.decideClient()).toEqual({ drop: false, delayMs: 0 });
    f.apply({ kind: 'net', action: 'delay', ms: 100, jitterMs: 20 });
    expect(f.decide(3)).toEqual({ drop: false, delayMs: 90 }); // 100 + (0.25*2-1)*20
    f.apply({ kind: 'net', action: 'drop', rate: 0.5 });
    expect(f.decide(3)).toEqual({ drop: true, reason: 'dropped' });
    f.apply({ kind: 'net', action: 'isolate' });
    expect(f.decideClient()).toEqual({ drop: true, reason: 'isolated' });
    expect(f.describe()).toEqual(['isolate', 'partition from 1,2', 'delay 100ms ±20ms', 'drop 0.5']);
    f.apply({ kind: 'net', action: 'heal', peers: [1] });
    expect(f.state().partitionedFrom).toEqual([2]);
    f.apply({ kind: 'net', action: 'heal' });
    expect(f.healthy).toBe(true);
    expect(f.describe()).toEqual([]);
  });

  it('client links: a cut from clients, and delay or drop on one kind of link only', () => {
    const f = new NetFaults(() => 0.25);
    f.apply({ kind: 'net', action: 'partition', clients: true });
    expect(f.decideClient()).toEqual({ drop: true, reason: 'partitioned' });
    expect(f.decide(1)).toEqual({ drop: false, delayMs: 0 });
    expect(f.healthy).toBe(false);
    f.apply({ kind: 'net', action: 'heal', clients: true });
    expect(f.decideClient()).toEqual({ drop: false, delayMs: 0 });
    expect(f.healthy).toBe(true);
    f.apply({ kind: 'net', action: 'delay', ms: 200, link: 'clients' });
    expect(f.decideClient()).toEqual({ drop: false, delayMs: 200 });
    expect(f.decide(2)).toEqual({ drop: false, delayMs: 0 });
    f.apply({ kind: 'net', action: 'drop', rate: 0.5, link: 'replicas' });
    expect(f.decide(2)).toEqual({ drop: true, reason: 'dropped' });
    expect(f.decideClient()).toEqual({ drop: false, delayMs: 200 });
    expect(f.describe()).toEqual(['drop 0.5 (replica links)', 'delay 200ms (client links)']);
    expect(f.state()).toMatchObject({ delayMs: 0, dropRate: 0.5, clients: { partitioned: false, delayMs: 200, jitterMs: 0, dropRate: 0 } });
    // without --link both kinds, as before
    f.apply({ kind: 'net', action: 'heal' });
    f.apply({ kind: 'net', action: 'delay', ms: 10 });
    expect(f.decide(1)).toEqual({ drop: false, delayMs: 10 });
    expect(f.decideClient()).toEqual({ drop: false, delayMs: 10 });
    expect(f.describe()).toEqual(['delay 10ms']);
  });
});
