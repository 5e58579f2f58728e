/** Talking to the pbft web server: the session token, JSON actions, the live WebSocket. */
import type { DiagramRecord } from '../../src/web/model.js';
import type { StatsSnapshot } from '../../src/web/stats.js';

export interface Info {
  mode: 'cluster' | 'trace';
  cluster: { dir: string; n: number; f: number; replicas: { id: number; host: string; port: number }[]; maxOpBytes: number } | null;
  hasTrace: boolean;
  faultActions: string[];
  strategies: string[];
  colours: { replicas: string[]; phases: Record<string, string> };
}

/** One replica as pbft status reports it (src/cluster/status.ts ReplicaRow). */
export interface Card {
  id: number;
  up: boolean;
  pid: number | null;
  reachable: boolean;
  error?: string;
  view: number | null;
  primary: number | null;
  viewChanging: boolean | null;
  lastExecuted: number | null;
  stableCheckpoint: number | null;
  stateDigest: string | null;
  connectedPeers: number[] | null;
  dropped: Record<string, number>;
  faults: string[];
  process: 'running' | 'paused' | 'crashed' | 'stopped' | 'down';
}

export interface Summary {
  n: number;
  f: number;
  reachable: number;
  quorum: number;
  health: string;
  view: number | null;
  agreeing: number[];
  converged: boolean;
  warnings: string[];
}

export type ServerMessage =
  | { type: 'hello'; info: Info }
  | { type: 'records'; records: DiagramRecord[]; sample: number }
  | { type: 'status'; rows: Card[]; summary: Summary; atMs: number }
  | { type: 'stats'; stats: StatsSnapshot; atMs: number };

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
