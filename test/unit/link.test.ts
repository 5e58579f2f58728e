/**
 * Link reconnection: a link waiting out a long backoff dials at once when told its peer is up
 * (the transport does this when the peer connects to us), instead of after up to reconnectMaxMs.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { Link } from '../../src/runtime/link.js';
import { freePorts, waitFor } from '../helpers/cluster.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** a server that speaks the replica side of the handshake: challenge, then welcome on any hello */
async function fakeReplica(port: number): Promise<WebSocketServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ type: 'challenge', replica: 1, cluster: 't', nonce: 'ab'.repeat(32) }));
    ws.on('message', () => ws.send(JSON.stringify({ type: 'welcome' })));
  });
  cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
  return wss;
}

function link(port: number, random = () => 1): Link {
  const l = new Link({
    host: '127.0.0.1',
    port,
    expectReplica: 1,
    cluster: 't',
    hello: () => ({ role: 'replica', replica: 0, sig: '00' }) as never,
    maxPayload: 1 << 20,
    heartbeatMs: 60_000,
    reconnect: true,
    // a backoff far longer than the test's timeout: only retryNow can open the link in time
    reconnectMinMs: 600_000,
    reconnectMaxMs: 600_000,
    onFrame: () => {},
    random,
  });
  cleanups.push(() => l.close());
  return l;
}

describe('Link.retryNow', () => {
  it('a link waiting out its backoff opens at once when its peer is known to be up', async () => {
    const [port] = await freePorts(1);
    const l = link(port!);
    l.connect();
    // nothing listens yet: the dial fails and the link waits 5 to 10 minutes
    await waitFor(() => l.state === 'waiting', { timeoutMs: 10_000, what: 'the first dial to fail' });
    await fakeReplica(port!);
    expect(l.state).toBe('waiting');
    l.retryNow();
    await l.whenOpen(AbortSignal.timeout(10_000));
    expect(l.isOpen).toBe(true);
    expect(l.opens).toBe(1);
  });

  it('does nothing to a link that is open, connecting or closed', async () => {
    const [port] = await freePorts(1);
    await fakeReplica(port!);
    const l = link(port!);
    l.connect();
    expect(l.state).toBe('connecting');
    l.retryNow();
    expect(l.state).toBe('connecting');
    await l.whenOpen(AbortSignal.timeout(10_000));
    l.retryNow();
    expect(l.state).toBe('open');
    expect(l.opens).toBe(1);
    l.close();
    l.retryNow();
    expect(l.state).toBe('closed');
  });
});
