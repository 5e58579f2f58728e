/**
 * encodePhaseLine (src/phaselog/record.ts) builds a phase-log line in one pass: the same text
 * as the object-spreading encoder it replaced, for every kind of record.
 */
import { describe, expect, it } from 'vitest';
import { encodePhaseLine, encodePhaseRecord, parsePhaseLine, type PhaseRecord } from '../../src/phaselog/record.js';

/** the encoder before (kept here as the reference) */
function reference(line: object, ts: number | string, replica: number): string {
  const { ts: _t, replica: _r, view, phase, ...rest } = { ...line, ts, replica } as PhaseRecord;
  return JSON.stringify({ ts, replica, view, phase, ...rest });
}

const lines: object[] = [
  { phase: 'pre-prepare', view: 0, seq: 1, digest: 'ab'.repeat(32), detail: '3 request(s)' },
  { phase: 'reply', view: 2, seq: 9, digest: 'cd', client: 'client"7\u2028', timestamp: 12 },
  { phase: 'drop', view: 1, peer: undefined, reason: 'bad-signature', detail: 'pre-prepare' },
  {
    view: 3,
    phase: 'fault',
    fault: {
      kind: 'partition',
      groups: [
        [0, 1],
        [2, 3],
      ],
    },
    at: new Date(0),
  },
  { phase: 'ready' },
  { phase: 'x', view: undefined, b: 1, a: 2, ts: 'ignored', replica: 99, f: () => 1, s: Symbol('s') },
  Object.assign(Object.create({ inherited: 1 }), { phase: 'own', view: 4 }),
];

describe('encodePhaseLine', () => {
  it('writes what the object-spreading encoder wrote', () => {
    for (const l of lines)
      for (const [ts, replica] of [
        [1_700_000_000_123, 0],
        ['2026-12-02T00:00:00.000Z', 12],
      ] as const) {
        expect(encodePhaseLine(ts, replica, l)).toBe(reference(l, ts, replica));
        expect(encodePhaseRecord({ ...(l as PhaseRecord), ts, replica })).toBe(reference(l, ts, replica));
      }
  });

  it('keeps ts and replica first even before integer-like keys (a plain object would not), with the same fields', () => {
    const l = { phase: 'x', view: 1, 10: 'numeric key' };
    const text = encodePhaseLine(7, 2, l);
    expect(text.startsWith('{"ts":7,"replica":2,')).toBe(true);
    expect(JSON.parse(text)).toEqual(JSON.parse(reference(l, 7, 2)));
  });

  it('reads back', () => {
    const text = encodePhaseLine(5, 1, { phase: 'commit', view: 2, seq: 3 });
    expect(parsePhaseLine(text)).toEqual({ ts: 5, replica: 1, view: 2, phase: 'commit', seq: 3 });
  });
});
