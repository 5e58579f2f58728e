/**
 * Mutated frames for a real replica's WebSocket port (issue 9: frame fuzzing on real processes).
 * Seeded, so a run that breaks something replays. Every frame is one of:
 * - a protocol message of a known shape, its fields mutated, then signed with a real replica key
 *   (the signature is valid: only the validation behind it stands between the frame and the core);
 * - the same unsigned or with a wrong signature, alone or several in one {type:'messages'} frame;
 * - a client request, mutated and signed with a real client key;
 * - a broken frame: truncated JSON, not JSON, binary, deeply nested, or huge arrays.
 */
import { canonicalBytes } from '../../src/core/canonical.js';
import type { SignatureScheme } from '../../src/crypto/index.js';
import { Rng as SimRng } from '../../src/sim/rng.js';

export type Rng = () => number;

/** A seeded generator as a function (the simulator's Rng). */
export function rngOf(seed: number): Rng {
  return new SimRng(seed).fn();
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
const hex = (rng: Rng, bytes: number) =>
  Array.from({ length: bytes }, () =>
    Math.floor(rng() * 256)
      .toString(16)
      .padStart(2, '0'),
  ).join('');

/** Odd values for any field. */
function oddValue(rng: Rng, depth = 0): unknown {
  switch (Math.floor(rng() * 16)) {
    case 0:
      return -1;
    case 1:
      return 2 ** 53;
    case 2:
      return 1e308;
    case 3:
      return 0.5;
    case 4:
      return '';
    case 5:
      return 'x'.repeat(Math.floor(rng() * 20_000));
    case 6:
      return null;
    case 7:
      return true;
    case 8:
      return [];
    case 9:
      return {};
    case 10:
      return hex(rng, 32);
    case 11:
      return depth < 3 ? { nested: oddValue(rng, depth + 1) } : 0;
    case 12:
      return Array.from({ length: Math.floor(rng() * 2_000) }, () => Math.floor(rng() * 10));
    case 13:
      return '__proto__';
    case 14:
      return Math.floor(rng() * 1_000_000);
    default:
      return 'constructor';
  }
}

function baseBody(rng: Rng, replica: number): Record<string, unknown> {
  const seq = pick(rng, [0, 1, 2, 5, 17, 64, 1000, 2 ** 31]);
  const view = pick(rng, [0, 0, 1, 2, 7, 2 ** 31]);
  const digest = hex(rng, 32);
  switch (Math.floor(rng() * 9)) {
    case 0:
      return { type: 'status', view, viewChanging: rng() < 0.5, lastExecuted: seq, stableSeq: seq, replica };
    case 1:
      return { type: 'prepare', view, seq, digest, replica };
    case 2:
      return { type: 'commit', view, seq, digest, replica };
    case 3:
      return { type: 'checkpoint', seq, digest, replica };
    case 4:
      return { type: 'pre-prepare', view, seq, digest, replica };
    case 5:
      return { type: 'view-change', newView: view + 1, stableSeq: seq, checkpointProof: [], prepared: [], replica };
    case 6:
      return { type: 'new-view', newView: view + 1, viewChanges: [], prePrepares: [], replica };
    case 7:
      return { type: 'fetch-state', seq, replica };
    default:
      return { type: 'catch-up', from: seq, replica };
  }
}

function mutateObject(rng: Rng, o: Record<string, unknown>): Record<string, unknown> {
  const out = { ...o };
  const keys = Object.keys(out);
  const edits = 1 + Math.floor(rng() * 3);
  for (let i = 0; i < edits; i++) {
    const r = rng();
    if (r < 0.5 && keys.length > 0) out[pick(rng, keys)] = oddValue(rng);
    else if (r < 0.7 && keys.length > 0) delete out[pick(rng, keys)];
    else if (r < 0.85) out[pick(rng, ['extra', '__proto__', 'constructor', 'sig', 'body', 'type'])] = oddValue(rng);
    else out.type = pick(rng, ['status', 'prepare', 'commit', 'nonsense', 'request', 'reply', '']);
  }
  return out;
}

export interface FuzzKeys {
  scheme: SignatureScheme;
  /** the cluster's domain prefix is applied by KeyedAuthenticator; here: a signer of raw bytes */
  signAsReplica: (bytes: Uint8Array) => string;
  replica: number;
  signAsClient: (bytes: Uint8Array) => string;
  client: string;
}

export type FuzzFrame = { kind: string; data: string | Buffer };

/** One frame for an authenticated replica connection. */
export function replicaFrame(rng: Rng, k: FuzzKeys): FuzzFrame {
  const r = rng();
  if (r < 0.12) return brokenFrame(rng);
  const one = (): { kind: string; msg: unknown } => {
    const body = rng() < 0.85 ? mutateObject(rng, baseBody(rng, k.replica)) : baseBody(rng, k.replica);
    const s = rng();
    if (s < 0.7) return { kind: 'signed-mutated', msg: { body, sig: k.signAsReplica(canonicalBytes(body)) } };
    if (s < 0.85) return { kind: 'bad-signature', msg: { body, sig: hex(rng, 64) } };
    if (s < 0.95) return { kind: 'unsigned', msg: { body } };
    return { kind: 'not-an-object', msg: oddValue(rng) };
  };
  if (r < 0.3) {
    const msgs = Array.from({ length: 1 + Math.floor(rng() * 8) }, one);
    return { kind: 'coalesced', data: JSON.stringify({ type: 'messages', msgs: msgs.map((m) => m.msg) }) };
  }
  const m = one();
  return { kind: m.kind, data: JSON.stringify({ type: 'message', msg: m.msg }) };
}

/** One frame for an authenticated client connection. */
export function clientFrame(rng: Rng, k: FuzzKeys, timestamp: number): FuzzFrame {
  if (rng() < 0.15) return brokenFrame(rng);
  const body: Record<string, unknown> = mutateObject(rng, {
    type: 'request',
    client: k.client,
    timestamp,
    op: JSON.stringify({ op: pick(rng, ['put', 'get', 'del', 'cas', '']), key: pick(rng, ['a', '', 'x'.repeat(300)]), value: 'v' }),
    readOnly: false,
  });
  return { kind: 'client-request', data: JSON.stringify({ type: 'request', msg: { body, sig: k.signAsClient(canonicalBytes(body)) } }) };
}

/** A frame no parser should accept. */
export function brokenFrame(rng: Rng): FuzzFrame {
  switch (Math.floor(rng() * 6)) {
    case 0: {
      const s = JSON.stringify({ type: 'message', msg: { body: { type: 'prepare', view: 0, seq: 1 }, sig: 'ab' } });
      return { kind: 'truncated', data: s.slice(0, Math.floor(rng() * s.length)) };
    }
    case 1:
      return { kind: 'not-json', data: hex(rng, 1 + Math.floor(rng() * 200)) };
    case 2:
      return { kind: 'binary', data: Buffer.from(hex(rng, 64), 'hex') };
    case 3:
      return { kind: 'deep', data: `${'['.repeat(20_000)}${']'.repeat(20_000)}` };
    case 4:
      return { kind: 'wide', data: JSON.stringify({ type: 'messages', msgs: Array.from({ length: 5_000 }, () => 0) }) };
    default:
      return { kind: 'wrong-type', data: JSON.stringify(oddValue(rng)) };
  }
}
