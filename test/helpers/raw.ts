/** A raw WebSocket to a replica, for tests that misbehave on the wire. */
import WebSocket from 'ws';
import type { LoadedCluster } from '../../src/runtime/config.js';
import { wsUrl } from '../../src/runtime/link.js';
import { parseChallenge, type ChallengeFrame } from '../../src/runtime/wire.js';

export interface RawConn {
  ws: WebSocket;
  challenge: ChallengeFrame;
  frames: Record<string, unknown>[];
  /** await the next frame matching pred (including ones already received and not consumed) */
  next(pred?: (f: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
  send(v: unknown): void;
  close(): void;
}

export async function rawConnect(cluster: LoadedCluster, id: number, o: { maxPayload?: number } = {}): Promise<RawConn> {
  const r = cluster.config.replicas[id]!;
  const ws = new WebSocket(wsUrl(r.host, r.port), { perMessageDeflate: false, maxPayload: o.maxPayload ?? 64 * 1024 * 1024 });
  const frames: Record<string, unknown>[] = [];
  let waiters: Array<{ pred: (f: Record<string, unknown>) => boolean; resolve: (f: Record<string, unknown>) => void }> = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => undefined);
  ws.on('message', (data) => {
    let f: Record<string, unknown>;
    try {
      f = JSON.parse(data.toString()) as Record<string, unknown>;
    } catch {
      return;
    }
    const w = waiters.find((x) => x.pred(f));
    if (w) {
      waiters = waiters.filter((x) => x !== w);
      w.resolve(f);
    } else frames.push(f);
  });
  const next = (pred: (f: Record<string, unknown>) => boolean = () => true, timeoutMs = 10_000) => {
    const i = frames.findIndex(pred);
    if (i >= 0) return Promise.resolve(frames.splice(i, 1)[0]!);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a frame')), timeoutMs);
      waiters.push({
        pred,
        resolve: (f) => {
          clearTimeout(t);
          resolve(f);
        },
      });
    });
  };
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const challenge = parseChallenge(await next((f) => f.type === 'challenge'));
  if (!challenge) throw new Error('no challenge');
  return {
    ws,
    challenge,
    frames,
    next,
    closed,
    send: (v) => ws.send(typeof v === 'string' || Buffer.isBuffer(v) ? v : JSON.stringify(v)),
    close: () => ws.terminate(),
  };
}
