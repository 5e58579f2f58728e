/**
 * What `pbft web`'s server (server.ts, live.ts) sends its page (web/src/api.ts): /api/info and
 * the WebSocket's messages. Shared by both sides, so no Node or DOM imports here.
 */
import type { ReplicaCard, StatusSummary } from '../cluster/status-types.js';
import type { DiagramRecord } from './model.js';
import type { StatsSnapshot } from './stats.js';

/** GET /api/info, and the WebSocket's first message. */
export interface PageInfo {
  mode: 'cluster' | 'trace';
  cluster: { dir: string; n: number; f: number; replicas: { id: number; host: string; port: number }[]; maxOpBytes: number } | null;
  hasTrace: boolean;
  faultActions: readonly string[];
  strategies: readonly string[];
  colours: { replicas: string[]; phases: Record<string, string> };
}

/** What the live feed (live.ts) streams to every page. */
export type LiveMessage =
  | { type: 'records'; records: DiagramRecord[]; sample: number }
  | { type: 'status'; rows: ReplicaCard[]; summary: StatusSummary; atMs: number }
  | { type: 'stats'; stats: StatsSnapshot; atMs: number };

/** Every message on the page's WebSocket. */
export type ServerMessage = { type: 'hello'; info: PageInfo } | LiveMessage;
