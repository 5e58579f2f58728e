/**
 * `pbft web` end to end, in real headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core; no browser download): one 4-replica cluster started as `pbft up` starts it,
 * one web server (the library behind `pbft web`), one browser, shared by the tests in order.
 * Conditions are awaited (Playwright's waitFor / polling), never slept for. Every replica
 * process is killed in afterAll. The second test takes a screenshot; with PBFT_UPDATE_SCREENSHOT=1
 * it is written to docs/web.png (the README's), otherwise to a temporary file, so that running
 * the tests leaves the working tree clean.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedCluster } from '../../src/runtime/config.js';
import { initCluster } from '../../src/runtime/init.js';
import { replicaRunState } from '../../src/cluster/fault-state.js';
import { upCluster, upFailure } from '../../src/cluster/lifecycle.js';
import { startWebServer, type WebServer } from '../../src/web/server.js';
import { ROOT, ensureBuilt, freePorts } from '../helpers/cluster.js';

const CHROMIUM = process.env.PBFT_CHROMIUM ?? '/usr/bin/chromium';
const FAST = { checkpointInterval: 4, logWindow: 8, viewChangeTimeoutMs: 400, maxViewChangeTimeoutMs: 3200 };
const BIN = path.join(ROOT, 'bin', 'run.js');
const WAIT = { timeout: 30_000 };

const seenPids = new Set<number>();
process.on('exit', () => {
  for (const pid of seenPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** The page's assets: built by npm run build; built here when a test run skipped it. */
function ensurePageBuilt(): void {
  if (existsSync(path.join(ROOT, 'dist', 'webui', 'index.html'))) return;
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'web/vite.config.ts'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`vite build failed:\n${r.stdout}\n${r.stderr}`);
}

// without chromium the tests are skipped on a developer's machine, never in CI (.ci/run installs it)
describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('pbft web in headless Chromium on a live 4-replica cluster', () => {
  let dir: string;
  let cluster: LoadedCluster;
  let server: WebServer;
  let browser: Browser;
  let page: Page;
  const all = [0, 1, 2, 3];
  const track = async () => {
    for (const id of all) {
      const p = await replicaRunState(cluster, id);
      if (p.pid !== null) seenPids.add(p.pid);
    }
  };

  beforeAll(async () => {
    await ensureBuilt();
    ensurePageBuilt();
    dir = mkdtempSync(path.join(os.tmpdir(), 'pbft-web-'));
    ({ cluster } = await initCluster({ dir, replicas: 4, ports: await freePorts(4), protocol: FAST }));
    const up = await upCluster(cluster, { readyTimeoutMs: 30_000 });
    await track();
    const failure = upFailure(cluster, up);
    if (failure) throw failure;
    server = await startWebServer({ cluster, port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
    await page.goto(server.url);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (cluster) await track();
    for (const pid of seenPids) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          /* gone, or not a group */
        }
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The replica the page shows as primary (its card's badge). */
  const shownPrimary = async (): Promise<number> => {
    const badge = page.locator('[data-testid^="primary-"]');
    await badge.first().waitFor(WAIT);
    return Number((await badge.first().getAttribute('data-testid'))!.slice('primary-'.length));
  };

  const sendFromPage = async (op: 'put' | 'get', key: string, value?: string) => {
    const result = page.getByTestId('req-result');
    const shown = async () => ((await result.count()) > 0 ? await result.textContent() : null);
    const before = await shown();
    await page.getByTestId('req-op').selectOption(op);
    await page.getByTestId('req-key').fill(key);
    if (value !== undefined) await page.getByTestId('req-value').fill(value);
    await page.getByTestId('req-send').click();
    // the answer replaces the last one
    await expect.poll(shown, { timeout: 40_000 }).not.toBe(before);
    await expect.poll(async () => (await page.getByTestId('req-send').isEnabled()) && (await shown()), { timeout: 40_000 }).toBeTruthy();
    return (await shown()) ?? '';
  };

  it('shows the 4 replicas up, one of them the primary', async () => {
    await page.getByTestId('summary').getByText('4/4 up').waitFor(WAIT);
    for (const id of all) await expect.poll(() => page.getByTestId(`state-${id}`).textContent(), WAIT).toBe('up');
    expect(await shownPrimary()).toBe(0);
  });

  it('sends a request from the page and draws its arrows: request, pre-prepare, prepare, commit, reply', async () => {
    const text = await sendFromPage('put', 'greeting', 'hello, world');
    expect(text).toContain('put greeting = "hello, world"');
    // the request is selected: its arrows are highlighted, its timeline shown
    for (const phase of ['request', 'pre-prepare', 'prepare', 'commit', 'reply'])
      await expect.poll(() => page.locator(`line.arrow.hot[data-phase="${phase}"]`).count(), WAIT).toBeGreaterThan(0);
    // one pre-prepare arrow per backup (each backup's phase log is read on its own)
    await expect.poll(() => page.locator('line.arrow.hot[data-phase="pre-prepare"]').count(), WAIT).toBe(3);
    await page.getByTestId('timeline').getByText('phases seen').waitFor(WAIT);
    await expect.poll(() => page.locator('[data-testid="timeline"] tr[data-phase="execute"]').count(), WAIT).toBe(4);
    for (const id of all) await expect.poll(() => page.getByTestId(`digest-${id}`).textContent(), WAIT).toContain('matching');
    const shot = process.env.PBFT_UPDATE_SCREENSHOT === '1' ? path.join(ROOT, 'docs', 'web.png') : path.join(os.tmpdir(), `pbft-web-${process.pid}.png`);
    mkdirSync(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
  });

  let old = -1;
  it('crashes the primary from its button: a view change elects a new primary', async () => {
    old = await shownPrimary();
    await page.getByTestId(`btn-crash-${old}`).click();
    await expect.poll(() => page.getByTestId(`state-${old}`).textContent(), WAIT).toBe('crashed');
    await track();
    // a request makes the backups time out waiting for it to be ordered, and change view
    const text = await sendFromPage('put', 'after-crash', 'still works');
    expect(text).toMatch(/view [1-9]/);
    const next = await expect
      .poll(async () => {
        const p = await shownPrimary();
        return p !== old ? p : null;
      }, WAIT)
      .not.toBeNull()
      .then(() => shownPrimary());
    expect(next).not.toBe(old);
    expect(Number(await page.getByTestId(`view-${next}`).textContent())).toBeGreaterThan(0);
    // the view change on the lanes: back to following, with a window that holds it
    await page.getByTestId('follow').click();
    await page.locator('select').filter({ hasText: '30 s' }).selectOption('30000');
    await expect.poll(() => page.locator('g.mark[data-phase="enter-view"]').count(), WAIT).toBeGreaterThan(0);
    await expect.poll(() => page.locator('line.arrow[data-phase="view-change"]').count(), WAIT).toBeGreaterThan(0);
    await expect.poll(() => page.locator('g.mark[data-phase="fault"]').count(), WAIT).toBeGreaterThan(0);
  });

  it('restarts the old primary from its button: it catches up with the others', async () => {
    await page.getByTestId(`btn-restart-${old}`).click();
    await expect.poll(() => page.getByTestId(`state-${old}`).textContent(), { timeout: 40_000 }).toBe('up');
    await track();
    await sendFromPage('put', 'after-restart', 'caught up');
    const others = all.filter((i) => i !== old);
    await expect
      .poll(
        async () => {
          const exec = await Promise.all(all.map((i) => page.getByTestId(`exec-${i}`).textContent()));
          const view = await Promise.all(all.map((i) => page.getByTestId(`view-${i}`).textContent()));
          const digest = await page.getByTestId(`digest-${old}`).textContent();
          return new Set(exec).size === 1 && new Set(view).size === 1 && Number(exec[0]) >= 3 && (digest ?? '').includes('matching');
        },
        { timeout: 40_000 },
      )
      .toBe(true);
    expect(await page.getByTestId(`exec-${others[0]}`).textContent()).toBe(await page.getByTestId(`exec-${old}`).textContent());
  });

  it('opens a simulator trace of a failing seed and shows where the invariant broke', async () => {
    const file = path.join(dir, 'seed0.json');
    const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [BIN, 'sim', '--seed', '0', '--replicas', '4', '--byzantine', 'none', '--adversary', 'fuzz', '--bug', 'execute-out-of-order', '--trace-file', file],
        { env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 },
        (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stderr }),
      ),
    );
    expect(r.code, r.stderr).toBe(1); // the seed fails: that is the point
    expect(r.stderr).toContain('wrote the trace of seed 0');
    await page.getByTestId('trace-file').setInputFiles(file);
    await page.getByTestId('trace-head').getByText('FAILED').waitFor(WAIT);
    await page.getByTestId('violation').first().getByText('total-order').waitFor(WAIT);
    // it opens at the violation: the line is drawn, and so are the messages before it
    await page.getByTestId('violation-line').waitFor({ ...WAIT, state: 'attached' });
    expect(await page.locator('line.arrow').count()).toBeGreaterThan(3);
    const at = await page.getByTestId('cursor').textContent();
    await page.getByTestId('step-back').click();
    await expect.poll(() => page.getByTestId('cursor').textContent(), WAIT).not.toBe(at);
    await page.getByTestId('goto-violation').click();
    await expect.poll(() => page.getByTestId('cursor').textContent(), WAIT).toBe(at);
  });
});
