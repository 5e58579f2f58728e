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
