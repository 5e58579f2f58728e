/** Talking to the pbft web server: the session token, JSON actions, the live WebSocket. */
import type { ReplicaCard, StatusSummary } from '../../src/cluster/status-types.js';
import type { PageInfo, ServerMessage } from '../../src/web/protocol.js';

// The server's own types (src/web/protocol.ts, src/cluster/status-types.ts), under the page's names.
export type Info = PageInfo;
/** One replica as pbft status reports it. */
export type Card = ReplicaCard;
export type Summary = StatusSummary;
export type { ServerMessage };

export function sessionToken(): string {
  return document.querySelector('meta[name="pbft-token"]')?.getAttribute('content') ?? '';
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

async function parse(res: Response): Promise<unknown> {
  const body = (await res.json().catch(() => ({}))) as { ok?: boolean; error?: { message?: string; hint?: string } };
  if (!res.ok) throw new ApiError(body.error?.message ?? `HTTP ${res.status}`, body.error?.hint);
  return body;
}

export async function post<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Pbft-Token': sessionToken() },
    body: JSON.stringify(body),
  });
  return (await parse(res)) as T;
}

export async function get<T>(path: string): Promise<T> {
  return (await parse(await fetch(path))) as T;
}

/** The live stream; reconnects after a second when it drops. */
export function connectLive(onMessage: (m: ServerMessage) => void, onState: (connected: boolean) => void): () => void {
  let ws: WebSocket | null = null;
  let stopped = false;
  let timer: number | undefined;
  const open = () => {
    ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(sessionToken())}`);
    ws.onopen = () => onState(true);
    ws.onmessage = (ev) => {
      try {
        onMessage(JSON.parse(String(ev.data)) as ServerMessage);
      } catch {
        /* not for us */
      }
    };
    ws.onclose = () => {
      onState(false);
      if (!stopped) timer = window.setTimeout(open, 1000);
    };
  };
  open();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    ws?.close();
  };
}
