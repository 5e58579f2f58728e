/**
 * The audit ledger's feed reads what the node sends: a Byzantine strategy may send anything
 * (the `garbage` strategy sends null), and the feed must pass over it, not throw out of the turn.
 */
import { describe, expect, it } from 'vitest';
import type { ReplicaAction } from '../../src/core/types.js';
import { LedgerFeed } from '../../src/runtime/ledger-feed.js';

describe('LedgerFeed', () => {
  it('passes over sends whose message is not an object', () => {
    const feed = new LedgerFeed(0, 0, 0, []);
    const effects = [
      { type: 'multicast', msg: null },
      { type: 'send', to: 1, msg: 42 },
      { type: 'multicast', msg: { body: null } },
    ] as unknown as ReplicaAction[];
    expect(feed.collect([], effects)).toEqual([]);
  });
});

describe('LedgerFeed repair from the durable log', () => {
  const D = (c: string) => c.repeat(64).slice(0, 64);
  const cert = (seq: number) => [0, 1, 2].map((replica) => ({ body: { type: 'commit' as const, view: 0, seq, digest: D('a'), replica }, sig: D('5') }));
  const req = (t: number) => ({ body: { type: 'request' as const, client: 'client0', timestamp: t, op: '{}' }, sig: D('6') });
  const committed = (seq: number) => ({ kind: 'committed' as const, entry: { view: 0, seq, digest: D('a'), batch: [req(seq)], commits: cert(seq) } });
  const checkpoint = (seq: number) => ({ kind: 'checkpoint' as const, seq, digest: D('d'), snapshot: '{}', proof: [] });

  it('records the executions below the stable checkpoint and the checkpoints the ledger lacks, in seq order', () => {
    // the ledger got seq 2; the durable log kept 1..9 and checkpoints 4 and 8 (the restart re-executes 9)
    const persisted = [
      committed(1),
      committed(2),
      committed(3),
      committed(4),
      checkpoint(4),
      committed(5),
      committed(6),
      committed(7),
      committed(8),
      checkpoint(8),
      committed(9),
    ];
    const feed = new LedgerFeed(0, 2, 0, persisted as never, (r) => `digest-of-${r.body.timestamp}`);
    const out = feed.collect([], []);
    expect(out.map((r) => `${r.k}:${(r as { seq: number }).seq}`)).toEqual([
      'exec:3',
      'exec:4',
      'checkpoint:4',
      'exec:5',
      'exec:6',
      'exec:7',
      'exec:8',
      'checkpoint:8',
    ]);
    expect(out[0]).toMatchObject({ src: 'restart', cert: cert(3), requests: [{ client: 'client0', timestamp: 3, digest: 'digest-of-3' }] });
  });

  it('stops at a gap and lets the checkpoint above it explain it (a state transfer)', () => {
    const persisted = [committed(1), committed(5), checkpoint(8), committed(9)];
    const feed = new LedgerFeed(0, 0, 0, persisted as never, () => D('e'));
    expect(feed.collect([], []).map((r) => `${r.k}:${(r as { seq: number }).seq}`)).toEqual(['exec:1', 'checkpoint:8']);
  });
});
