/**
 * The one parser of replica ids (src/cluster/ids.ts): the IDS of up/down/start/stop/restart/logs,
 * the --from list and the TARGET of pbft fault share its grammar and its error codes
 * (BAD_ARGUMENT for what is not an id, UNKNOWN_REPLICA for an id the cluster does not have);
 * only the wording follows the command.
 */
import { describe, expect, it } from 'vitest';
import { checkReplicaId, parseReplicaIds, parseReplicaTarget } from '../../src/cluster/ids.js';
import { EXIT, exitCodeFor } from '../../src/errors.js';

function thrown(f: () => unknown): { code?: string; message?: string; hint?: string } {
  try {
    f();
  } catch (e) {
    return e as { code?: string; message?: string; hint?: string };
  }
  throw new Error('did not throw');
}

const ids =
  (args: string[], n = 4) =>
  () =>
    parseReplicaIds(args, n);
const from =
  (s: string, n = 4) =>
  () =>
    parseReplicaIds([s], n, { flag: '--from' });
const target =
  (s: string, n = 4) =>
  () =>
    parseReplicaTarget(s, n);

describe('parseReplicaIds', () => {
  it('reads ids and low-high ranges, separated by commas, spaces or arguments; sorted, no duplicates', () => {
    expect(parseReplicaIds(['3', '0,2', '2'], 4)).toEqual([0, 2, 3]);
    expect(parseReplicaIds(['1-3'], 4)).toEqual([1, 2, 3]);
    expect(parseReplicaIds(['3 1-2 1'], 4)).toEqual([1, 2, 3]);
    expect(parseReplicaIds([' 0 , 3 '], 4)).toEqual([0, 3]);
    expect(parseReplicaIds(['2-2', '03'], 4)).toEqual([2, 3]);
    expect(parseReplicaIds(['0-3'], 4, { flag: '--from' })).toEqual([0, 1, 2, 3]);
  });

  it('an empty list is every replica for IDS, and an error for a flag', () => {
    expect(parseReplicaIds([], 4)).toEqual([0, 1, 2, 3]);
    expect(parseReplicaIds([','], 3)).toEqual([0, 1, 2]);
    expect(thrown(from(''))).toMatchObject({ code: 'BAD_ARGUMENT', message: '--from needs at least one replica id', hint: 'e.g. --from 0,1' });
    expect(thrown(from(' , '))).toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('one error code per problem, whatever the source', () => {
    const notIds = ['x', '-1', '1.5', '1-', '1-2-3', '0x1', '1234567'];
    for (const w of notIds) {
      expect(thrown(ids([w])).code, w).toBe('BAD_ARGUMENT');
      expect(thrown(from(w)).code, w).toBe('BAD_ARGUMENT');
      expect(thrown(target(w)).code, w).toBe('BAD_ARGUMENT');
    }
    expect(thrown(ids(['3-1'])).code).toBe('BAD_ARGUMENT');
    expect(thrown(from('3-1')).code).toBe('BAD_ARGUMENT');
    expect(thrown(target('1-2')).code).toBe('BAD_ARGUMENT'); // a TARGET is one replica
    // an id (up to six digits) that the cluster does not have: UNKNOWN_REPLICA everywhere (--from
    // used to call a five- or six-digit id BAD_ARGUMENT)
    for (const w of ['4', '12345', '999999']) {
      expect(thrown(ids([w])).code, w).toBe('UNKNOWN_REPLICA');
      expect(thrown(from(w)).code, w).toBe('UNKNOWN_REPLICA');
      expect(thrown(target(w)).code, w).toBe('UNKNOWN_REPLICA');
    }
    expect(thrown(ids(['2-9'])).code).toBe('UNKNOWN_REPLICA');
    expect(thrown(from('0,2-9')).code).toBe('UNKNOWN_REPLICA');
    for (const code of ['BAD_ARGUMENT', 'UNKNOWN_REPLICA']) expect(exitCodeFor(code)).toBe(EXIT.usage);
  });

  it('names the id the user wrote: the top of a range that goes past the cluster', () => {
    expect(thrown(ids(['2-9'])).message).toBe('unknown replica id 9: this cluster has replicas 0..3');
    expect(thrown(from('2-9')).message).toBe('--from: unknown replica 9: this cluster has replicas 0-3');
  });

  it('keeps the wording of each command', () => {
    expect(thrown(ids(['x']))).toMatchObject({ message: '"x" is not a replica id', hint: 'give numbers between 0 and 3, e.g. 0 2 or 0,2 or 1-3' });
    expect(thrown(ids(['3-1']))).toMatchObject({ message: 'invalid replica id range "3-1"', hint: 'write ranges low-high, e.g. 1-3' });
    expect(thrown(ids(['4']))).toMatchObject({ message: 'unknown replica id 4: this cluster has replicas 0..3', hint: 'use an id from that range' });
    expect(thrown(from('x'))).toMatchObject({
      message: '--from: "x" is not a replica id or range',
      hint: 'give ids between 0 and 3, e.g. --from 0,1 or --from 1-2',
    });
    expect(thrown(from('3-1'))).toMatchObject({ message: '--from: "3-1" is not a replica id or range' });
    expect(thrown(from('4'))).toMatchObject({ message: '--from: unknown replica 4: this cluster has replicas 0-3', hint: 'use ids from that range' });
  });
});

describe('parseReplicaTarget and checkReplicaId', () => {
  it('a TARGET is "primary" or one id', () => {
    expect(parseReplicaTarget('primary', 4)).toBe('primary');
    expect(parseReplicaTarget(' primary ', 4)).toBe('primary');
    expect(parseReplicaTarget('0', 4)).toBe(0);
    expect(parseReplicaTarget(' 03 ', 4)).toBe(3);
    expect(thrown(target('leader'))).toMatchObject({
      message: '"leader" is not a replica id or "primary"',
      hint: 'give a replica id between 0 and 3, or primary',
    });
    expect(thrown(target('4'))).toMatchObject({ message: 'unknown replica 4: this cluster has replicas 0-3', hint: 'use an id from that range, or primary' });
  });

  it('checkReplicaId: the same error for a library caller', () => {
    expect(checkReplicaId(3, 4)).toBe(3);
    for (const id of [4, -1, 1.5, Number.NaN]) expect(thrown(() => checkReplicaId(id, 4)).code, String(id)).toBe('UNKNOWN_REPLICA');
    expect(thrown(() => checkReplicaId(7, 4)).message).toBe('unknown replica 7: this cluster has replicas 0-3');
  });
});
