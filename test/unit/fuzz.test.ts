/**
 * "Nothing from the network can crash the core": arbitrary JSON and mutations of real protocol
 * messages, fed to a live replica, never throw, and the replica still works afterwards.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseReplicaMessage, limitsFor } from '../../src/core/messages.js';
import { defaultParams } from '../../src/core/replica.js';
import type { ReplicaMessage } from '../../src/core/types.js';
import { Harness } from './core-harness.js';

function recordedMessages(): ReplicaMessage[] {
  const h = new Harness(4, { checkpointInterval: 4, logWindow: 8 });
  h.runOps('c0', Array.from({ length: 6 }, (_, i) => ({ op: 'put' as const, key: `k${i % 2}`, value: `${i}` })));
  h.crash(0);
  h.runOps('c0', [{ op: 'put', key: 'z', value: '1' }]);
  const out: ReplicaMessage[] = [];
  for (const { action } of h.actions) if (action.type === 'send' || action.type === 'multicast') out.push(action.msg);
  return out;
}

/** set a random path in a JSON value to a random value */
function mutate(v: unknown, path: number[], replacement: unknown): unknown {
  if (path.length === 0 || typeof v !== 'object' || v === null) return replacement;
  const entries = Array.isArray(v) ? v.map((x, i) => [i, x] as const) : Object.entries(v as object);
  if (entries.length === 0) return replacement;
  const [k] = entries[path[0]! % entries.length]!;
  const copy = (Array.isArray(v) ? [...v] : { ...(v as object) }) as Record<string | number, unknown>;
  copy[k] = mutate((v as Record<string | number, unknown>)[k], path.slice(1), replacement);
  return copy;
}

describe('the core survives hostile input', () => {
  const samples = recordedMessages();
  const types = new Set(samples.map((m) => m.body.type));

  it('recorded a varied sample of real messages', () => {
    for (const t of ['pre-prepare', 'prepare', 'commit', 'checkpoint', 'view-change', 'new-view', 'status']) expect(types.has(t as never)).toBe(true);
  });

  it('structural validation never throws on arbitrary JSON', () => {
    const limits = limitsFor(defaultParams(4));
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        const r = parseReplicaMessage(v, limits);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('a replica fed arbitrary and mutated messages never throws and keeps working', () => {
    const h = new Harness(4, { checkpointInterval: 4, logWindow: 8 });
    const replaceWith = fc.oneof(
      fc.constant(null),
      fc.integer(),
      fc.constantFrom(-1, 2 ** 53, 1e308, 0.5, NaN),
      fc.string({ maxLength: 20 }),
      fc.constantFrom('a'.repeat(64), 'f'.repeat(128), 'pre-prepare', 'commit'),
      fc.array(fc.integer(), { maxLength: 3 }),
      fc.object({ maxDepth: 2 }),
    );
    fc.assert(
      fc.property(
        fc.nat({ max: samples.length - 1 }),
        fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 6 }),
        replaceWith,
        fc.integer({ min: -1, max: 5 }),
        fc.nat({ max: 3 }),
        (i, path, replacement, from, to) => {
          const msg = mutate(JSON.parse(JSON.stringify(samples[i])), path, replacement);
          const r = h.replicas[to]!;
          expect(() => r.step({ type: 'message', from, msg })).not.toThrow();
          expect(() => r.step({ type: 'request', msg })).not.toThrow();
        },
      ),
      { numRuns: 3000 },
    );
    // replay every real message to every replica, too (stale/duplicate handling)
    for (const m of samples) for (let to = 0; to < 4; to++) for (let from = 0; from < 4; from++) if (from !== to) h.replicas[to]!.step({ type: 'message', from, msg: m });
    // and the cluster still orders requests
    const res = h.runOps('c1', [{ op: 'put', key: 'after', value: 'fuzz' }]);
    expect(res.length).toBe(1);
    const dropped = h.replicas[1]!.status().dropped;
    expect(Object.values(dropped.reject).reduce((a, b) => a + (b ?? 0), 0)).toBeGreaterThan(100);
  });
});
