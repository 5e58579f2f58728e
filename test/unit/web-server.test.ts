/**
 * The pbft web server's guards, without a browser: loopback only, the Host and Origin checks
 * (HTTP and the WebSocket upgrade), the session token for actions and the live stream, and the
 * validation of the page's input (as the CLI validates it). The cluster is initialised but not
 * started: a valid fault to a replica that is not running is refused by the fault library.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { initCluster } from '../../src/runtime/init.js';
import { HOST, sgrToCss, startWebServer, type WebServer } from '../../src/web/server.js';
import { SIM_TRACE_FORMAT } from '../../src/web/model.js';

interface Reply {
  status: number;
  body: string;
  json: () => { ok?: boolean; error?: { message: string; code?: string } } & Record<string, unknown>;
}

function call(s: WebServer, o: { method?: string; path: string; headers?: Record<string, string>; body?: unknown }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    const req = httpRequest(
      {
        host: HOST,
        port: s.port,
        method: o.method ?? 'GET',
        path: o.path,
        headers: { ...(data !== undefined ? { 'Content-Type': 'application/json' } : {}), ...(o.headers ?? {}) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body) }));
      },
    );
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

function wsOpen(s: WebServer, o: { token?: string; origin?: string; path?: string } = {}): Promise<{ ok: boolean; first?: unknown; status?: number }> {
  return new Promise((resolve) => {
    const q = o.token !== undefined ? `?token=${encodeURIComponent(o.token)}` : '';
    const ws = new WebSocket(`ws://${HOST}:${s.port}${o.path ?? '/ws'}${q}`, o.origin ? { origin: o.origin } : {});
    ws.on('message', (m) => {
      resolve({ ok: true, first: JSON.parse(String(m)) });
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ ok: false, status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.on('error', () => resolve({ ok: false }));
  });
}

describe('pbft web server', () => {
  let dir: string;
  let assets: string;
  let s: WebServer;
  const post = (p: string, body: unknown, headers: Record<string, string> = {}) =>
    call(s, { method: 'POST', path: p, body, headers: { 'X-Pbft-Token': s.token, Origin: `http://${HOST}:${s.port}`, ...headers } });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-webunit-'));
    assets = path.join(dir, 'assets-root');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(path.join(assets, 'assets'), { recursive: true });
    writeFileSync(path.join(assets, 'index.html'), '<!doctype html><html><head><title>t</title></head><body></body></html>');
    writeFileSync(path.join(assets, 'assets', 'app.js'), 'console.log(1)');
    writeFileSync(path.join(dir, 'secret.txt'), 'not for the page');
    const { cluster } = await initCluster({ dir: path.join(dir, 'c'), replicas: 4, ports: [1, 2, 3, 4].map((i) => 40_000 + i) });
    s = await startWebServer({ cluster, port: 0, assetsDir: assets, live: { statusMs: 60_000 } });
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 and puts the session token in the page it serves', async () => {
    expect(s.url).toBe(`http://127.0.0.1:${s.port}/`);
    const r = await call(s, { path: '/' });
    expect(r.status).toBe(200);
    expect(r.body).toContain(`<meta name="pbft-token" content="${s.token}">`);
    expect(s.token.length).toBeGreaterThanOrEqual(32);
    expect((await call(s, { path: '/assets/app.js' })).body).toBe('console.log(1)');
    expect((await call(s, { path: '/assets/../../secret.txt' })).status).toBe(404);
    expect((await call(s, { path: '/assets/%2e%2e/%2e%2e/secret.txt' })).status).toBe(404);
  });

  it('refuses another Host (DNS rebinding) and another Origin, on HTTP and on the WebSocket upgrade', async () => {
    expect((await call(s, { path: '/api/info', headers: { Host: `evil.example:${s.port}` } })).status).toBe(403);
    expect((await call(s, { path: '/api/info', headers: { Origin: 'http://evil.example' } })).status).toBe(403);
    expect((await call(s, { path: '/api/info', headers: { Origin: `http://localhost:${s.port}` } })).status).toBe(200);
    const evil = await post('/api/request', { op: 'get', key: 'k' }, { Origin: 'http://evil.example' });
    expect(evil.status).toBe(403);
    expect(evil.json().error?.message).toMatch(/another origin/);
    expect(await wsOpen(s, { token: s.token, origin: 'http://evil.example' })).toMatchObject({ ok: false, status: 403 });
    const good = await wsOpen(s, { token: s.token, origin: `http://${HOST}:${s.port}` });
    expect(good.ok).toBe(true);
    expect(good.first).toMatchObject({ type: 'hello', info: { mode: 'cluster', cluster: { n: 4, f: 1 } } });
  });

  it('needs the session token for actions and for the live stream', async () => {
    expect((await post('/api/fault', { target: 0, action: 'crash' }, { 'X-Pbft-Token': '' })).status).toBe(403);
    // (one character changed: a token that already ends in x gets a y)
    const wrong = `${s.token.slice(0, -1)}${s.token.endsWith('x') ? 'y' : 'x'}`;
    expect((await post('/api/fault', { target: 0, action: 'crash' }, { 'X-Pbft-Token': wrong })).status).toBe(403);
    expect((await call(s, { method: 'POST', path: '/api/request', body: { op: 'get', key: 'k' } })).status).toBe(403);
    expect(await wsOpen(s, {})).toMatchObject({ ok: false, status: 403 });
    expect(await wsOpen(s, { token: 'wrong' })).toMatchObject({ ok: false, status: 403 });
    expect(await wsOpen(s, { token: s.token, path: '/other' })).toMatchObject({ ok: false, status: 403 });
  });

  it('validates the page input as the CLI does', async () => {
    const bad = async (p: string, body: unknown, re: RegExp) => {
      const r = await post(p, body);
      expect(r.status, r.body).toBe(400);
      expect(r.json().error?.message).toMatch(re);
    };
    await bad('/api/fault', { target: 0, action: 'explode' }, /action/);
    await bad('/api/fault', { target: 9, action: 'crash' }, /replica|9/);
    await bad('/api/fault', { target: 'primaryx', action: 'crash' }, /./);
    await bad('/api/fault', { target: 1, action: 'byzantine', strategy: 'nope' }, /unknown Byzantine strategy "nope"/);
    await bad('/api/fault', { target: 1, action: 'delay', ms: '-5' }, /--ms must be/);
    await bad('/api/fault', { target: 1, action: 'crash', ms: 5 }, /--ms does not apply to crash/);
    await bad('/api/fault', { target: 1, action: 'partition', from: '1' }, /itself/);
    await bad('/api/fault', { target: 1, action: 'crash', extra: true }, /Unrecognized key/);
    await bad('/api/request', { op: 'put', key: 'k' }, /put needs a KEY and a VALUE/);
    await bad('/api/request', { op: 'put', key: '', value: 'v' }, /needs a KEY/);
    await bad('/api/request', { op: 'get', key: 'k', value: 'v' }, /takes only a KEY/);
    await bad('/api/request', { op: 'drop', key: 'k' }, /op/);
    await bad('/api/request', 'not json', /not valid JSON/);
    const r = await call(s, { method: 'POST', path: '/api/request', body: '{}', headers: { 'Content-Type': 'text/plain', 'X-Pbft-Token': s.token } });
    expect(r.status).toBe(415);
    // valid, but the replica does not run: the fault library says so
    const down = await post('/api/fault', { target: 2, action: 'crash' });
    expect(down.status).toBe(409);
    expect(down.json().error).toMatchObject({ code: 'NOT_RUNNING' });
    // a request timeline: validated too
    expect((await call(s, { path: '/api/request-trace?client=c&timestamp=abc' })).status).toBe(400);
    expect((await call(s, { path: '/api/request-trace?client=client0&timestamp=12' })).json()).toMatchObject({ client: 'client0', records: [] });
  });

  it('serves a simulator trace given at start, and the CLI colours as CSS', async () => {
    expect((await call(s, { path: '/api/trace' })).status).toBe(404);
    const t = { format: SIM_TRACE_FORMAT, version: 1, seed: 3, n: 4, f: 1, ok: true, scenario: 's', replay: 'r', violations: [], entries: [] } as const;
    const only = await startWebServer({ trace: { ...t, violations: [], entries: [] }, port: 0, assetsDir: assets });
    try {
      expect((await call(only, { path: '/api/trace' })).json()).toMatchObject({ seed: 3, n: 4 });
      const info = (await call(only, { path: '/api/info' })).json() as { mode: string; colours: { replicas: string[]; phases: Record<string, string> } };
      expect(info.mode).toBe('trace');
      expect(info.colours.replicas[0]).toBe(sgrToCss('36'));
      expect(info.colours.phases['pre-prepare']).toBe(sgrToCss('34'));
      const r = await call(only, { method: 'POST', path: '/api/request', body: { op: 'get', key: 'k' }, headers: { 'X-Pbft-Token': only.token } });
      expect(r.status).toBe(409);
    } finally {
      await only.close();
    }
    expect(sgrToCss('1;35')).toBe(sgrToCss('35'));
    expect(sgrToCss('2')).toMatch(/^#/);
    expect(sgrToCss('1')).toBeNull();
  });
});
