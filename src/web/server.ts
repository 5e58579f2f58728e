/**
 * `pbft web` as a library: an HTTP and WebSocket server on 127.0.0.1 that serves the built page
 * (dist/webui), streams a cluster's live state (live.ts) and carries out the page's faults and
 * requests through the same library calls as `pbft fault` and `pbft request`.
 *
 * Security:
 * - it listens on 127.0.0.1 only;
 * - the Host header must name 127.0.0.1 or localhost with its port (no DNS rebinding);
 * - a request or WebSocket upgrade with an Origin other than the server's own is refused;
 * - state-changing requests (POST) and the WebSocket need the per-session token, which the
 *   server writes into the page it serves (another origin cannot read it);
 * - the page's input is validated as the CLI's is (zod for the shape, then parseFaultArgs and
 *   parseRequestArgs); the operator key stays on the server, read by injectFault.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import type { LoadedCluster } from '../runtime/config.js';
import { PbftError, describeError, isPbftError } from '../errors.js';
import { discoverPhaseFiles, rotatedPhaseLog } from '../phaselog/index.js';
import { KNOWN_PHASES } from '../phaselog/record.js';
import { FAULT_ACTIONS, parseFaultArgs } from '../cluster/fault-request.js';
import { injectFault } from '../cluster/faults.js';
import { describeOutcome, maxValueBytes, parseRequestArgs, runRequest } from '../cluster/request.js';
import { collectTrace } from '../cluster/trace.js';
import { phaseColour, replicaColour } from '../cluster/format.js';
import { STRATEGY_NAMES } from '../byzantine/index.js';
import { CLIENT_LANE, type DiagramRecord, type SimTraceFile } from './model.js';
import { LiveFeed, toDiagramRecord, type LiveOptions } from './live.js';
import type { PageInfo } from './protocol.js';

/** The package root (two levels up from src/web or dist/web). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where `npm run build` puts the page. */
export const DEFAULT_ASSETS_DIR = join(ROOT, 'dist', 'webui');

export interface WebServerOptions {
  /** the cluster to show live (optional: a page for a simulator trace alone) */
  cluster?: LoadedCluster;
  /** a simulator trace to open at start */
  trace?: SimTraceFile;
  /** 0: any free port */
  port?: number;
  assetsDir?: string;
  live?: LiveOptions;
  /** per fault: control-channel timeout, and readiness timeout for restart */
  faultTimeoutMs?: number;
  readyTimeoutMs?: number;
  /** the replica program for restart (tests) */
  entry?: string;
}

export interface WebServer {
  url: string;
  port: number;
  token: string;
  live: LiveFeed | null;
  close(): Promise<void>;
}

export const HOST = '127.0.0.1';

/** ANSI SGR colour numbers as CSS colours, readable on the page's dark background. */
const SGR_CSS: Record<string, string> = {
  '31': '#e5534b',
  '32': '#57ab5a',
  '33': '#c69026',
  '34': '#539bf5',
  '35': '#b083f0',
  '36': '#39c5cf',
  '91': '#ff7b72',
  '92': '#7ee787',
  '93': '#e3b341',
  '94': '#79c0ff',
  '95': '#d2a8ff',
  '96': '#56d4dd',
};

/** The CSS colour of an SGR code such as "1;36" (bold cyan) or "2" (dim: grey); null for none. */
export function sgrToCss(code: string): string | null {
  const parts = code.split(';');
  for (let i = parts.length - 1; i >= 0; i--) {
    const c = SGR_CSS[parts[i]!];
    if (c) return c;
  }
  if (parts.includes('2')) return '#768390';
  return null;
}

/** The CLI's colours (src/cluster/format.ts) for the page. */
export function pageColours(n: number): { replicas: string[]; phases: Record<string, string> } {
  const replicas = Array.from({ length: n }, (_, i) => sgrToCss(replicaColour(i)) ?? '#adbac7');
  const phases: Record<string, string> = {};
  for (const ph of [...KNOWN_PHASES, 'fault', 'recovery', 'drop', 'admin', 'crash', 'restart', 'partition', 'heal', 'violation', 'result']) {
    phases[ph] = sgrToCss(phaseColour(ph)) ?? '#adbac7';
  }
  phases.crash = phases.fault!;
  phases.violation = '#ff4040';
  return { replicas, phases };
}

// ---------------------------------------------------------------------------------------
// Input from the page
// ---------------------------------------------------------------------------------------

const numberOrString = z.union([z.number(), z.string().max(40)]);

export const FaultBody = z
  .object({
    target: z.union([z.number().int().min(0), z.string().min(1).max(20)]),
    action: z.enum(FAULT_ACTIONS),
    strategy: z.string().max(60).optional(),
    from: z.string().max(400).optional(),
    ms: numberOrString.optional(),
    jitter: numberOrString.optional(),
    rate: numberOrString.optional(),
    link: z.string().max(20).optional(),
  })
  .strict();

export const RequestBody = z
  .object({
    op: z.enum(['put', 'get', 'del']),
    key: z.string().max(100_000),
    value: z.string().optional(),
  })
  .strict();

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

function zodMessage(e: z.ZodError): string {
  const i = e.issues[0];
  if (!i) return 'invalid input';
  return `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`;
}

// ---------------------------------------------------------------------------------------

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

function sameToken(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function startWebServer(o: WebServerOptions): Promise<WebServer> {
  const assetsDir = o.assetsDir ?? DEFAULT_ASSETS_DIR;
  let indexHtml: string;
  try {
    indexHtml = await readFile(join(assetsDir, 'index.html'), 'utf8');
  } catch (e) {
    throw new PbftError('NOT_BUILT', `the web page is not built (${describeError(e)})`, { hint: 'build it with: npm run build' });
  }
  const token = randomBytes(24).toString('base64url');
  const cluster = o.cluster;
  const live = cluster ? new LiveFeed(cluster, o.live) : null;
  let port = 0;
  const origins = () => new Set([`http://${HOST}:${port}`, `http://localhost:${port}`]);
  const hosts = () => new Set([`${HOST}:${port}`, `localhost:${port}`]);

  /** Host and Origin checks shared by HTTP and the WebSocket upgrade; null when fine. */
  const refusal = (req: IncomingMessage): string | null => {
    const host = req.headers.host;
    if (host === undefined || !hosts().has(host.toLowerCase())) return `the Host header must be ${HOST}:${port} or localhost:${port}`;
    const origin = req.headers.origin;
    if (origin !== undefined && !origins().has(origin)) return `requests from another origin (${origin.slice(0, 100)}) are refused`;
    if (req.headers['sec-fetch-site'] === 'cross-site') return 'cross-site requests are refused';
    return null;
  };

  const info = (): PageInfo => ({
    mode: cluster ? 'cluster' : 'trace',
    cluster: cluster
      ? {
          dir: cluster.dir,
          n: cluster.config.replicas.length,
          f: cluster.params.f,
          replicas: cluster.config.replicas.map((r) => ({ id: r.id, host: r.host, port: r.port })),
          maxOpBytes: cluster.config.protocol.maxOpBytes,
        }
      : null,
    hasTrace: o.trace !== undefined,
    faultActions: FAULT_ACTIONS,
    strategies: STRATEGY_NAMES,
    colours: pageColours(Math.max(cluster?.config.replicas.length ?? 0, o.trace?.n ?? 0, 12)),
  });

  const bodyLimit = cluster ? Math.min(cluster.config.protocol.maxOpBytes * 2 + 65_536, 128 << 20) : 65_536;
  const readJson = async (req: IncomingMessage): Promise<unknown> => {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/json')) throw new HttpError(415, 'send JSON (Content-Type: application/json)');
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const c of req) {
      total += (c as Buffer).length;
      if (total > bodyLimit) throw new HttpError(413, `the request body is larger than ${bodyLimit} bytes`);
      chunks.push(c as Buffer);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new HttpError(400, 'the request body is not valid JSON');
    }
  };

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    res.end(text);
  };

  const pageHeaders = () => ({
    'Content-Security-Policy': `default-src 'self'; connect-src 'self' ws://${HOST}:${port} ws://localhost:${port}; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const why = refusal(req);
    if (why) throw new HttpError(403, why);
    const url = new URL(req.url ?? '/', `http://${HOST}:${port}`);
    const path = url.pathname;
    if (req.method === 'POST') {
      if (!sameToken(req.headers['x-pbft-token'] as string | undefined, token))
        throw new HttpError(403, 'missing or wrong session token', 'reload the page that pbft web printed');
      if (path === '/api/fault') return send(res, 200, await doFault(await readJson(req)));
      if (path === '/api/request') return send(res, 200, await doRequest(await readJson(req)));
      throw new HttpError(404, `no such action: ${path}`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `method ${req.method} not allowed`);
    if (path === '/' || path === '/index.html') {
      const html = indexHtml.replace('</head>', `<meta name="pbft-token" content="${token}"></head>`);
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...pageHeaders() });
      res.end(req.method === 'HEAD' ? undefined : html);
      return;
    }
    if (path === '/api/info') return send(res, 200, info());
    if (path === '/api/trace') {
      if (!o.trace) throw new HttpError(404, 'no simulator trace was given (pbft web --trace FILE)');
      return send(res, 200, o.trace);
    }
    if (path === '/api/request-trace') return send(res, 200, await requestTrace(url.searchParams));
    if (path.startsWith('/assets/') || path === '/favicon.svg') {
      const rel = normalize(decodeURIComponent(path)).replace(/^[/\\]+/, '');
      const file = join(assetsDir, rel);
      if (!file.startsWith(assetsDir.endsWith(sep) ? assetsDir : assetsDir + sep)) throw new HttpError(404, 'not found');
      let data: Buffer;
      try {
        data = await readFile(file);
      } catch {
        throw new HttpError(404, 'not found');
      }
      res.writeHead(200, {
        'Content-Type': MIME[extname(file)] ?? 'application/octet-stream',
        'Cache-Control': 'public, max-age=31536000, immutable',
        'X-Content-Type-Options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : data);
      return;
    }
    throw new HttpError(404, 'not found');
  };

  const needCluster = (): LoadedCluster => {
    if (!cluster) throw new HttpError(409, 'this page shows a simulator trace only: no cluster', 'start pbft web with --dir for a cluster');
    return cluster;
  };

  const doFault = async (raw: unknown) => {
    const c = needCluster();
    const p = FaultBody.safeParse(raw);
    if (!p.success) throw new HttpError(400, zodMessage(p.error));
    const b = p.data;
    const req = parseFaultArgs(
      {
        target: String(b.target),
        action: b.action,
        rest: b.strategy !== undefined ? [b.strategy] : [],
        ...(b.from !== undefined ? { from: b.from } : {}),
        ...(b.ms !== undefined ? { ms: b.ms } : {}),
        ...(b.jitter !== undefined ? { jitter: b.jitter } : {}),
        ...(b.rate !== undefined ? { rate: b.rate } : {}),
        ...(b.link !== undefined ? { link: b.link } : {}),
      },
      c.config.replicas.length,
    );
    const out = await injectFault(c, req, {
      timeoutMs: o.faultTimeoutMs ?? 5000,
      readyTimeoutMs: o.readyTimeoutMs ?? 30_000,
      ...(o.entry ? { entry: o.entry } : {}),
    });
    void live?.pollStatus();
    return { ok: true, replica: out.replica, action: out.action, changed: out.changed, message: out.message, process: out.process };
  };

  const doRequest = async (raw: unknown) => {
    const c = needCluster();
    const p = RequestBody.safeParse(raw);
    if (!p.success) throw new HttpError(400, zodMessage(p.error));
    const b = p.data;
    const op = parseRequestArgs([b.op, b.key, b.value]);
    if (op.op === 'put') {
      const max = maxValueBytes(c, op.key);
      const bytes = Buffer.byteLength(op.value);
      if (bytes > max) throw new HttpError(400, `the value is ${bytes} bytes; one request carries at most ${max} bytes of value here`);
    }
    const sentAtMs = Date.now();
    const out = await runRequest(c, op, { timeoutMs: 10_000 });
    // the client side of the request, on the client lane of the diagram
    const recs: DiagramRecord[] = [
      { ts: out.sentAtMs, replica: CLIENT_LANE, view: out.view, phase: 'request', client: out.client, timestamp: out.timestamp, detail: `${op.op} ${op.key}` },
      ...out.replicas.map((r) => ({
        ts: out.doneAtMs,
        replica: CLIENT_LANE,
        view: out.view,
        phase: 'reply',
        peer: r,
        client: out.client,
        timestamp: out.timestamp,
      })),
      { ts: out.doneAtMs, replica: CLIENT_LANE, view: out.view, phase: 'result', client: out.client, timestamp: out.timestamp, detail: describeOutcome(out) },
    ];
    live?.inject(recs);
    return {
      ok: out.ok,
      description: describeOutcome(out),
      result: out.result,
      replicas: out.replicas,
      view: out.view,
      latencyMs: out.latencyMs,
      client: out.client,
      timestamp: out.timestamp,
      sentAtMs: Math.min(sentAtMs, out.sentAtMs),
      doneAtMs: out.doneAtMs,
    };
  };

  const requestTrace = async (q: URLSearchParams) => {
    const c = needCluster();
    const client = q.get('client') ?? '';
    const ts = q.get('timestamp') ?? '';
    const since = q.get('sinceMs');
    if (client.length === 0 || client.length > 200) throw new HttpError(400, 'client: give the client id (at most 200 characters)');
    if (!/^\d{1,16}$/.test(ts) || !Number.isSafeInteger(Number(ts))) throw new HttpError(400, 'timestamp: give the request timestamp (an integer)');
    if (since !== null && !/^\d{1,16}$/.test(since)) throw new HttpError(400, 'sinceMs: an integer (ms since the epoch)');
    const files = await discoverPhaseFiles(
      c.dir,
      c.config.replicas.map((r) => r.id),
    );
    const all = [...files.map((f) => ({ replica: f.replica, path: rotatedPhaseLog(f.path) })), ...files];
    const t = await collectTrace(all, { client, timestamp: Number(ts) }, since !== null ? { sinceMs: Number(since) } : {});
    return { client: t.client, timestamp: t.timestamp, seqs: t.seqs, executedBy: t.executedBy, records: t.records.map(toDiagramRecord) };
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError) return send(res, e.status, { ok: false, error: { message: e.message, ...(e.hint ? { hint: e.hint } : {}) } });
      if (isPbftError(e)) {
        const status = e.code === 'BAD_ARGUMENT' || e.code === 'USAGE' || e.code === 'UNKNOWN_REPLICA' ? 400 : 409;
        return send(res, status, { ok: false, error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) } });
      }
      send(res, 500, { ok: false, error: { message: `unexpected error: ${describeError(e)}` } });
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  server.on('upgrade', (req, socket, head) => {
    const why = refusal(req);
    const url = new URL(req.url ?? '/', `http://${HOST}:${port}`);
    const bad =
      why ??
      (url.pathname !== '/ws' ? 'no such endpoint' : !sameToken(url.searchParams.get('token') ?? undefined, token) ? 'missing or wrong session token' : null);
    if (bad) {
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${bad}\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onSocket(ws));
  });

  const onSocket = (ws: WebSocket) => {
    ws.send(JSON.stringify({ type: 'hello', info: info() }));
    if (!live) return;
    const unsubscribe = live.subscribe((m) => {
      // a page that cannot keep up gets no more until it drains
      if (ws.readyState === ws.OPEN && ws.bufferedAmount < 8 << 20) ws.send(JSON.stringify(m));
    });
    ws.on('close', unsubscribe);
    ws.on('error', unsubscribe);
    ws.on('message', () => undefined);
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new PbftError('PORT_IN_USE', `port ${o.port} on ${HOST} is in use`, { hint: 'choose another with --port, or --port 0 for any free port' })
          : e,
      ),
    );
    server.listen(o.port ?? 0, HOST, () => resolve());
  });
  port = (server.address() as { port: number }).port;
  if (live) void live.start();

  return {
    url: `http://${HOST}:${port}/`,
    port,
    token,
    live,
    async close() {
      live?.close();
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
