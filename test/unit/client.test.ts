import { describe, expect, it } from 'vitest';
import { ClientCore } from '../../src/core/client.js';
import { makeReply } from '../../src/core/messages.js';
import { KeyedAuthenticator, keyringFor, SimScheme } from '../../src/crypto/index.js';
import type { ClientAction } from '../../src/core/types.js';

function setup(n = 4) {
  const scheme = new SimScheme();
  const secrets = Array.from({ length: n }, (_, i) => (i + 1).toString(16).padStart(64, '0'));
  const pubs = secrets.map((s) => scheme.publicKey(s));
  const csk = 'cc'.repeat(32);
  const ring = keyringFor(pubs, { c: scheme.publicKey(csk) }, false);
  const replicaAuth = secrets.map((s) => new KeyedAuthenticator(scheme, s, ring));
  const client = new ClientCore({
    id: 'c',
    n,
    auth: new KeyedAuthenticator(scheme, csk, ring),
    startTimestamp: 10,
    retransmitTimeoutMs: 100,
    maxRetransmitTimeoutMs: 400,
  });
  const reply = (i: number, result: string, opts: { view?: number; timestamp?: number; tentative?: boolean; signer?: number } = {}) =>
    makeReply(replicaAuth[opts.signer ?? i]!, {
      view: opts.view ?? 0,
      timestamp: opts.timestamp ?? 10,
      client: 'c',
      replica: i,
      result,
      tentative: opts.tentative ?? false,
    });
  return { client, reply };
}
const done = (a: ClientAction[]) => a.find((x) => x.type === 'done');

describe('client core (§4.1)', () => {
  it('sends to the primary, accepts f+1 matching replies from distinct replicas', () => {
    const { client, reply } = setup();
    const out = client.submit('op');
    expect(out.find((a) => a.type === 'send')).toMatchObject({ to: 0 });
    expect(done(client.step({ type: 'reply', from: 1, msg: reply(1, 'R') }))).toBeUndefined();
    expect(done(client.step({ type: 'reply', from: 1, msg: reply(1, 'R') }))).toBeUndefined(); // same replica twice
    const d = done(client.step({ type: 'reply', from: 2, msg: reply(2, 'R') }));
    expect(d && d.type === 'done' && d.outcome).toMatchObject({ result: 'R', replicas: [1, 2], timestamp: 10 });
    expect(client.busy).toBe(false);
  });

  it('a wrong result from a faulty replica does not count; f+1 matching correct ones win', () => {
    const { client, reply } = setup();
    client.submit('op');
    expect(done(client.step({ type: 'reply', from: 3, msg: reply(3, 'WRONG') }))).toBeUndefined();
    expect(done(client.step({ type: 'reply', from: 1, msg: reply(1, 'R') }))).toBeUndefined();
    const d = done(client.step({ type: 'reply', from: 2, msg: reply(2, 'R') }));
    expect(d && d.type === 'done' && d.outcome.result).toBe('R');
  });

  it('ignores replies with forged signatures, wrong senders and stale timestamps', () => {
    const { client, reply } = setup();
    client.submit('op');
    client.step({ type: 'reply', from: 1, msg: reply(1, 'R', { signer: 3 }) });
    client.step({ type: 'reply', from: 2, msg: reply(1, 'R') });
    client.step({ type: 'reply', from: 2, msg: reply(2, 'R', { timestamp: 9 }) });
    client.step({ type: 'reply', from: 2, msg: { nonsense: true } });
    expect(client.dropped).toMatchObject({ 'bad-signature': 1, 'wrong-sender': 1, stale: 1, malformed: 1 });
    expect(client.busy).toBe(true);
  });

  it('"on timeout it retransmits to all replicas and backs off (doubling)", capped', () => {
    const { client } = setup();
    client.submit('op');
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const out = client.step({ type: 'timer', name: 'retransmit' });
      expect(out.some((a) => a.type === 'broadcast')).toBe(true);
      delays.push((out.find((a) => a.type === 'setTimer') as { afterMs: number }).afterMs);
    }
    expect(delays).toEqual([200, 400, 400, 400]);
  });

  it('"replies carry the view, so the client learns the current primary"', () => {
    const { client, reply } = setup();
    client.submit('op');
    client.step({ type: 'reply', from: 1, msg: reply(1, 'R', { view: 5 }) });
    client.step({ type: 'reply', from: 2, msg: reply(2, 'R', { view: 5 }) });
    expect(client.view).toBe(5);
    const out = client.submit('op2');
    expect(out.find((a) => a.type === 'send')).toMatchObject({ to: 1 });
  });

  it('read-only: needs 2f+1 matching tentative replies, else retries read-write', () => {
    const { client, reply } = setup();
    const out = client.submit('get', { readOnly: true });
    expect(out.some((a) => a.type === 'broadcast')).toBe(true);
    client.step({ type: 'reply', from: 0, msg: reply(0, 'A', { tentative: true }) });
    client.step({ type: 'reply', from: 1, msg: reply(1, 'B', { tentative: true }) });
    const retry = client.step({ type: 'reply', from: 2, msg: reply(2, 'C', { tentative: true }) });
    // 3 different answers: 2f+1 = 3 matching can no longer happen -> read-write to the primary
    expect(retry.find((a) => a.type === 'send')).toMatchObject({ to: 0 });
    expect(client.pendingTimestamp).toBe(11);
  });
});
