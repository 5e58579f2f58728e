/**
 * Recovery mode: a replica whose durable log was lost or damaged restarts amnesic. It must not
 * vote where it may have voted before, nor take part in a view change with a log that may omit
 * prepared certificates; it orders a recovery request, catches up past the request's seq + L,
 * and votes again only in a view formed after that (Replica's class comment).
 */
import { describe, expect, it } from 'vitest';
import { Harness } from './core-harness.js';
import type { ReplicaAction } from '../../src/core/types.js';
import { canonicalJson } from '../../src/core/canonical.js';
import { makeRequest } from '../../src/core/messages.js';
import { recoveryClientId, recoveryOp } from '../../src/core/replica.js';

const puts = (k: number, prefix = 'k') => Array.from({ length: k }, (_, i) => ({ op: 'put' as const, key: `${prefix}${i % 3}`, value: `v${i}` }));

/** the protocol messages a replica sent, by type */
function sentTypes(h: Harness, i: number, since: number): string[] {
  return h.actions
    .slice(since)
    .filter((a) => a.replica === i && (a.action.type === 'send' || a.action.type === 'multicast'))
    .map((a) => ((a.action as Extract<ReplicaAction, { type: 'multicast' }>).msg.body as { type: string }).type);
}

describe('replica core: recovery from a lost durable log', () => {
  it('votes nothing while recovering, orders its recovery request, gets a fresh view from the others, and votes again', () => {
    const h = new Harness(4);
    h.runOps('c0', puts(6));
    h.crash(3);
    const mark = h.actions.length;
    h.restartAmnesic(3, 1_000_000);
    const r3 = h.replicas[3]!;
    expect(r3.status().recovery).toEqual({ phase: 'ordering', boundSeq: null });
    // the cluster goes on without its votes (3 others are a quorum) and orders its request;
    // once their stable checkpoints pass where it saw the request executed, they change view
    // for it (STATUS recoveringAfter), and it votes again in that view
    h.runOps('c0', puts(40, 'q'));
    h.run(() => h.replicas[3]!.status().recovery?.phase === 'rejoining', 30_000);
    expect(r3.status().recovery?.phase).toBe('rejoining');
    // it takes part in view changes again once its stable checkpoint passes boundSeq
    h.runOps('c0', puts(2 * h.params.logWindow, 'z'));
    h.run(() => h.replicas[3]!.status().recovery === undefined, 30_000);
    expect(r3.status().recovery).toBeUndefined();
    expect(r3.status().view).toBeGreaterThan(0);
    // every replica executed the recovery request once, as client replica:3, as a no-op
    for (const i of [0, 1, 2, 3]) {
      const ran = h
        .executed(i)
        .flatMap((e) => e.requests)
        .filter((q) => q.client === 'replica:3');
      expect(ran.length).toBeLessThanOrEqual(1);
      if (i < 3) expect(ran.map((q) => q.result)).toEqual(['recovered abcdef0123456789']);
    }
    // no vote, view change or new-view from it before it learned the fresh view
    const votesAgain = h.actions.findIndex(
      (a, k) =>
        k >= mark && a.replica === 3 && a.action.type === 'log' && a.action.event.phase === 'recovery' && /votes again/.test(a.action.event.detail ?? ''),
    );
    expect(votesAgain).toBeGreaterThan(mark);
    const before = h.actions
      .slice(mark, votesAgain)
      .filter((a) => a.replica === 3 && (a.action.type === 'send' || a.action.type === 'multicast'))
      .map((a) => ((a.action as Extract<ReplicaAction, { type: 'multicast' }>).msg.body as { type: string }).type)
      .filter((t) => ['pre-prepare', 'prepare', 'commit', 'view-change', 'new-view'].includes(t));
    expect(before).toEqual([]);
    expect(h.actions.some((a) => a.replica === 3 && a.action.type === 'recovered')).toBe(true);
    // it votes again
    const later = h.actions.length;
    h.runOps('c1', puts(3, 'w'));
    expect(sentTypes(h, 3, later)).toContain('commit');
    expect(new Set([0, 1, 2, 3].map((i) => h.replicas[i]!.status().stateDigest)).size).toBe(1);
  });

  it('in an idle cluster recovery still ends: the primary orders null requests up to the first checkpoint at or above its bound', () => {
    const h = new Harness(4);
    h.runOps('c0', puts(3));
    h.crash(3);
    h.restartAmnesic(3, 1_500_000);
    h.runOps('c0', puts(20, 'q'));
    h.run(() => h.replicas[3]!.status().recovery?.phase === 'rejoining', 30_000);
    const rec = h.replicas[3]!.status().recovery;
    expect(rec?.phase).toBe('rejoining');
    const bound = rec!.boundSeq!;
    const executedBefore = h.replicas[0]!.status().lastExecuted;
    expect(executedBefore).toBeLessThan(bound);
    // no client sends anything more
    h.run(() => h.replicas[3]!.status().recovery === undefined, 60_000);
    expect(h.replicas[3]!.status().recovery).toBeUndefined();
    const K = h.params.checkpointInterval;
    h.run(() => [0, 1, 2, 3].every((i) => h.replicas[i]!.status().stableCheckpoint === Math.ceil(bound / K) * K), 10_000);
    for (const i of [0, 1, 2, 3]) expect(h.replicas[i]!.status().stableCheckpoint).toBe(Math.ceil(bound / K) * K);
    // what filled the gap were null requests, and nothing past that checkpoint
    const nulls = h.executed(0).filter((e) => e.seq > executedBefore);
    expect(nulls.length).toBe(Math.ceil(bound / K) * K - executedBefore);
    expect(nulls.every((e) => e.requests.length === 0)).toBe(true);
    expect(new Set([0, 1, 2, 3].map((i) => h.replicas[i]!.status().stateDigest)).size).toBe(1);
  });

  it('null requests for a recovering peer: once per recovery request, never more than one window ahead', () => {
    const h = new Harness(4);
    h.runOps('c0', puts(3));
    const st = (replica: number, recoveringUntil: number) => {
      const auth = h.replicaAuth(replica);
      const body = { type: 'status', view: 0, viewChanging: false, lastExecuted: 0, stableSeq: 0, replica, recoveringUntil };
      return { body, sig: auth.sign(new TextEncoder().encode(canonicalJson(body))) };
    };
    const executed = () => h.replicas[0]!.status().lastExecuted;
    const K = h.params.checkpointInterval;
    const L = h.params.logWindow;
    // replica 2 has ordered no request of its own: its claim gets nothing
    h.inject(2, 0, st(2, 8));
    h.run(() => false, 5_000);
    expect(executed()).toBe(3);
    // it orders one (a recovery request is any request signed as replica:2)
    const req = makeRequest(h.replicaAuth(2), recoveryClientId(2), 7, recoveryOp('0123456789abcdef'));
    const deliver = (h as unknown as { deliver(from: string, to: number, msg: unknown, asRequest: boolean): void }).deliver.bind(h);
    for (const i of [0, 1, 2, 3]) deliver(recoveryClientId(2), i, req, true);
    h.run(() => executed() === 4, 5_000);
    expect(executed()).toBe(4);
    // a bound more than one window past what the primary executed: nothing
    h.inject(2, 0, st(2, 4 + L + 1));
    h.run(() => false, 5_000);
    expect(executed()).toBe(4);
    // a bound within it: null requests up to the first checkpoint at or above it
    h.inject(2, 0, st(2, 4 + 2));
    h.run(() => executed() === Math.ceil(6 / K) * K, 10_000);
    expect(executed()).toBe(Math.ceil(6 / K) * K);
    // the same request again, with a larger bound: nothing more
    h.inject(2, 0, st(2, executed() + 3));
    h.run(() => false, 5_000);
    expect(executed()).toBe(Math.ceil(6 / K) * K);
  });

  it('without a view formed after its request it stays out of every vote', () => {
    const h = new Harness(4);
    h.runOps('c0', puts(2));
    h.crash(3);
    h.restartAmnesic(3, 3_000_000);
    // the others never change view for it: they never hear that it waits for one
    h.filter = (from, _to, msg) => from === 3 && (msg as { body?: { recoveringAfter?: number } }).body?.recoveringAfter !== undefined;
    const mark = h.actions.length;
    h.runOps('c0', puts(30, 'q'));
    h.run(() => h.replicas[3]!.status().recovery?.phase === 'awaiting-view', 20_000);
    expect(h.replicas[3]!.status().recovery?.phase).toBe('awaiting-view');
    // (it keeps executing what the others decide: catch-up needs no vote)
    expect(h.replicas[3]!.status().lastExecuted).toBeGreaterThan(2);
    expect(sentTypes(h, 3, mark).filter((t) => ['pre-prepare', 'prepare', 'commit', 'view-change', 'new-view'].includes(t))).toEqual([]);
  });

  it('an unfinished recovery survives a restart with its log intact', () => {
    const h = new Harness(4);
    h.runOps('c0', puts(2));
    h.crash(3);
    h.restartAmnesic(3, 2_000_000, '00112233445566778899');
    h.runOps('c0', puts(4, 'q'));
    h.crash(3);
    h.restart(3);
    expect(h.replicas[3]!.status().recovery).toBeDefined();
  });

  it('a Byzantine replica cannot make another look recovered: only that replica signs as replica:<id>', () => {
    const h = new Harness(4);
    const auth1 = h.replicaAuth(1);
    const keyring = (auth1 as unknown as { keyring: { clientKey(c: string): string | undefined; replicas: string[] } }).keyring;
    expect(keyring.clientKey('replica:2')).toBe(keyring.replicas[2]);
    expect(keyring.clientKey('replica:02')).toBeUndefined();
    expect(keyring.clientKey('replica:9')).toBeUndefined();
  });
});
