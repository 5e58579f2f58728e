/** The live view of a cluster: cards, controls, the diagram, a request's timeline, the charts. */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { DiagramRecord } from '../../src/web/model.js';
import { CLIENT_LANE } from '../../src/web/model.js';
import type { StatsSnapshot } from '../../src/web/stats.js';
import { ApiError, type Card, type Info, type ServerMessage, type Summary, connectLive, get, post } from './api.js';
import { Charts } from './charts.js';
import { Diagram } from './diagram.js';
import { Timeline } from './timeline.js';

const KEEP = 30_000;
const WINDOWS = [2_000, 5_000, 10_000, 30_000, 60_000];

export function LiveView({ info }: { info: Info }) {
  const n = info.cluster!.n;
  const [connected, setConnected] = useState(false);
  const [cards, setCards] = useState<Card[]>([]);
  const [summary, setSummary] = useState<Summary | null>(null);
  const [stats, setStats] = useState<StatsSnapshot | null>(null);
  const [sample, setSample] = useState(1);
  const records = useRef<DiagramRecord[]>([]);
  const [version, setVersion] = useState(0);
  const [follow, setFollow] = useState(true);
  const [windowMs, setWindowMs] = useState(5_000);
  const [endMs, setEndMs] = useState(Date.now());
  const [now, setNow] = useState(Date.now());
  const [selected, setSelected] = useState<{ key: string; firstMs: number } | null>(null);
  /** a fixed range (a selected request, zoomed to): set until "follow live" */
  const [zoom, setZoom] = useState<{ fromMs: number; toMs: number } | null>(null);
  const select = (key: string, t0: number, t1: number) => {
    setSelected({ key, firstMs: t0 });
    const d = Math.max(20, t1 - t0);
    setZoom({ fromMs: t0 - 0.15 * d, toMs: t1 + 0.6 * d });
    setFollow(false);
  };

  useEffect(
    () =>
      connectLive((m: ServerMessage) => {
        if (m.type === 'records') {
          const r = records.current;
          for (const x of m.records) r.push(x);
          if (r.length > KEEP * 1.2) r.splice(0, r.length - KEEP);
          setSample(m.sample);
          setVersion((v) => v + 1);
        } else if (m.type === 'status') {
          setCards(m.rows);
          setSummary(m.summary);
        } else if (m.type === 'stats') setStats(m.stats);
      }, setConnected),
    [],
  );
  // redraw 4 times a second while following
  useEffect(() => {
    if (!follow) return;
    const t = window.setInterval(() => setNow(Date.now()), 250);
    return () => window.clearInterval(t);
  }, [follow]);

  const toMs = follow ? now : (zoom?.toMs ?? endMs);
  const fromMs = !follow && zoom ? zoom.fromMs : toMs - windowMs;
  // records in time order (the client lane's come from the server later than the replicas')
  const sorted = useMemo(() => [...records.current].sort((a, b) => a.ts - b.ts), [version]);
  const oldest = sorted[0]?.ts ?? now;
  const primary = summary ? majorityPrimary(cards) : null;

  return (
    <div>
      <div class="status-line" data-testid="summary">
        <span class={`dot ${connected ? 'ok' : 'bad'}`} title={connected ? 'connected to pbft web' : 'not connected'} />
        {summary ? (
          <>
            <b>
              {summary.reachable}/{summary.n} up
            </b>{' '}
            · quorum {summary.quorum} · view {summary.view ?? '-'} · {summary.health}
            {summary.converged ? ' · all at the same state' : ''}
            {summary.warnings.length > 0 && <span class="warn"> · {summary.warnings[0]}</span>}
          </>
        ) : (
          'waiting for the first status…'
        )}
        <span class="dir">{info.cluster!.dir}</span>
      </div>
      <div class="cards">
        {Array.from({ length: n }, (_, i) => cards.find((c) => c.id === i) ?? null).map((c, i) => (
          <ReplicaCard key={i} id={i} card={c} cards={cards} info={info} colour={info.colours.replicas[i]!} />
        ))}
      </div>
      <RequestBox info={info} onSent={select} />
      <div class="diagram-bar">
        <b>Space-time diagram</b>
        <button
          type="button"
          data-testid="follow"
          onClick={() => {
            setZoom(null);
            if (follow) {
              setEndMs(now);
              setFollow(false);
            } else setFollow(true);
          }}
        >
          {follow ? '❚❚ pause' : '▶ follow live'}
        </button>
        <label>
          window{' '}
          <select
            value={windowMs}
            onChange={(e) => {
              setZoom(null);
              setWindowMs(Number((e.target as HTMLSelectElement).value));
            }}
          >
            {WINDOWS.map((w) => (
              <option key={w} value={w}>
                {w / 1000} s
              </option>
            ))}
          </select>
        </label>
        {zoom && <span class="hint">zoomed to the selected request</span>}
        {!follow && !zoom && (
          <label class="scroll">
            scroll back{' '}
            <input
              type="range"
              min={oldest + windowMs}
              max={now}
              step={50}
              value={endMs}
              onInput={(e) => setEndMs(Number((e.target as HTMLInputElement).value))}
            />
          </label>
        )}
        {sample > 1 && <span class="warn">busy: showing the records of one request in {sample}</span>}
        <Legend phases={info.colours.phases} />
      </div>
      <Diagram
        records={sorted}
        n={n}
        fromMs={fromMs}
        toMs={toMs}
        originMs={toMs}
        colours={info.colours}
        selected={selected?.key ?? null}
        onSelect={select}
        primary={primary}
      />
      {selected && <LiveTimeline sel={selected} colours={info.colours} n={n} onClose={() => setSelected(null)} />}
      <Charts stats={stats} throughputColour={info.colours.phases.execute ?? '#57ab5a'} latencyColour={info.colours.phases.commit ?? '#b083f0'} />
    </div>
  );
}

function majorityPrimary(cards: Card[]): number | null {
  const votes = new Map<number, number>();
  for (const c of cards) if (c.reachable && c.primary !== null && !c.viewChanging) votes.set(c.primary, (votes.get(c.primary) ?? 0) + 1);
  const best = [...votes].sort((a, b) => b[1] - a[1])[0];
  return best ? best[0] : null;
}

export function Legend({ phases }: { phases: Record<string, string> }) {
  const shown = ['request', 'pre-prepare', 'prepare', 'commit', 'reply', 'checkpoint', 'view-change', 'new-view', 'state-transfer', 'fault'];
  return (
    <span class="legend">
      {shown.map((p) => (
        <span key={p} style={{ color: phases[p] }}>
          ■ {p}
        </span>
      ))}
    </span>
  );
}

function ReplicaCard({ id, card, cards, info, colour }: { id: number; card: Card | null; cards: Card[]; info: Info; colour: string }) {
  const [busy, setBusy] = useState<string | null>(null);
  const [msg, setMsg] = useState<{ text: string; error: boolean } | null>(null);
  const [strategy, setStrategy] = useState(info.strategies[0] ?? '');
  const state = !card
    ? 'unknown'
    : card.reachable
      ? 'up'
      : card.process === 'paused' || card.process === 'crashed'
        ? card.process
        : card.up
          ? 'no answer'
          : 'down';
  // digests: the most common (lastExecuted, digest) among the answering replicas is the reference
  const groups = new Map<string, number>();
  for (const c of cards) if (c.reachable) groups.set(`${c.lastExecuted}/${c.stateDigest}`, (groups.get(`${c.lastExecuted}/${c.stateDigest}`) ?? 0) + 1);
  const top = [...groups].sort((a, b) => b[1] - a[1])[0]?.[0];
  const matching = card?.reachable && top === `${card.lastExecuted}/${card.stateDigest}`;
  const isPrimary = card?.reachable && card.primary === id && !card.viewChanging;
  const act = async (action: string, extra: Record<string, unknown> = {}) => {
    setBusy(action);
    setMsg(null);
    try {
      const r = await post<{ message: string }>('/api/fault', { target: id, action, ...extra });
      setMsg({ text: r.message, error: false });
    } catch (e) {
      setMsg({ text: e instanceof ApiError ? `${e.message}${e.hint ? ` (${e.hint})` : ''}` : String(e), error: true });
    } finally {
      setBusy(null);
    }
  };
  const others = Array.from({ length: info.cluster!.n }, (_, i) => i).filter((i) => i !== id);
  const drops = card ? Object.entries(card.dropped).sort((a, b) => b[1] - a[1]) : [];
  const btn = (action: string, label = action, extra: Record<string, unknown> = {}, title?: string) => (
    <button type="button" data-testid={`btn-${action}-${id}`} disabled={busy !== null} title={title} onClick={() => act(action, extra)}>
      {busy === action ? '…' : label}
    </button>
  );
  return (
    <div class={`card state-${state.replace(' ', '-')}`} data-testid={`card-${id}`} style={{ borderTopColor: colour }}>
      <div class="card-head">
        <span class="rid" style={{ color: colour }}>
          r{id}
        </span>
        <span class={`badge state-${state.replace(' ', '-')}`} data-testid={`state-${id}`}>
          {state}
        </span>
        {isPrimary && (
          <span class="badge primary" data-testid={`primary-${id}`}>
            primary
          </span>
        )}
        {card?.viewChanging && <span class="badge warn">view change</span>}
      </div>
      <table class="facts">
        <tbody>
          <tr>
            <td>view</td>
            <td data-testid={`view-${id}`}>{card?.view ?? '-'}</td>
            <td>pid</td>
            <td>{card?.pid ?? '-'}</td>
          </tr>
          <tr>
            <td>last exec</td>
            <td data-testid={`exec-${id}`}>{card?.lastExecuted ?? '-'}</td>
            <td>stable</td>
            <td>{card?.stableCheckpoint ?? '-'}</td>
          </tr>
          <tr>
            <td>digest</td>
            <td colSpan={3} class={card?.reachable ? (matching ? 'match' : 'differs') : ''} data-testid={`digest-${id}`}>
              {card?.stateDigest ? card.stateDigest.slice(0, 12) : '-'}
              {card?.reachable ? (matching ? ' ✓ matching' : ' ≠ differs') : ''}
            </td>
          </tr>
          <tr>
            <td>faults</td>
            <td colSpan={3} class={card?.faults.length ? 'warn' : ''} data-testid={`faults-${id}`}>
              {card ? card.faults.join(', ') || 'none' : '-'}
            </td>
          </tr>
          <tr>
            <td>drops</td>
            <td colSpan={3} class="drops">
              {drops.length ? drops.map(([k, v]) => `${k}:${v}`).join(' ') : '0'}
            </td>
          </tr>
        </tbody>
      </table>
      <div class="buttons">
        {btn('crash', 'crash', {}, 'SIGKILL the replica process')}
        {btn('restart', 'restart', {}, 'start it again and wait until ready')}
        {btn('pause', 'pause', {}, 'SIGSTOP')}
        {btn('resume', 'resume', {}, 'SIGCONT')}
        {btn('isolate', 'isolate', {}, 'drop all its traffic')}
        {btn(
          'partition',
          'partition',
          { from: others.slice(0, Math.max(1, Math.floor(others.length / 2))).join(',') },
          `cut it off from r${others.slice(0, Math.max(1, Math.floor(others.length / 2))).join(', r')}`,
        )}
        {btn('clear', 'clear', {}, 'honest and healthy again')}
      </div>
      <div class="buttons">
        <select
          value={strategy}
          onChange={(e) => setStrategy((e.target as HTMLSelectElement).value)}
          data-testid={`strategy-${id}`}
          aria-label="Byzantine strategy"
        >
          {info.strategies.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        {btn('byzantine', 'make Byzantine', { strategy })}
      </div>
      {msg && (
        <div class={`card-msg${msg.error ? ' error' : ''}`} data-testid={`msg-${id}`}>
          {msg.text}
        </div>
      )}
    </div>
  );
}

function RequestBox({ info, onSent }: { info: Info; onSent: (key: string, t0: number, t1: number) => void }) {
  const [op, setOp] = useState<'put' | 'get' | 'del'>('put');
  const [key, setKey] = useState('greeting');
  const [value, setValue] = useState('hello');
  const [busy, setBusy] = useState(false);
  const [out, setOut] = useState<{ text: string; error: boolean } | null>(null);
  const send = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setOut(null);
    try {
      const r = await post<{
        description: string;
        replicas: number[];
        view: number;
        latencyMs: number;
        client: string;
        timestamp: number;
        sentAtMs: number;
        doneAtMs: number;
      }>('/api/request', { op, key, ...(op === 'put' ? { value } : {}) });
      setOut({ text: `${r.description} · replies from r${r.replicas.join(', r')} · view ${r.view} · ${r.latencyMs.toFixed(1)} ms`, error: false });
      onSent(`${r.client}/${r.timestamp}`, r.sentAtMs, r.doneAtMs);
    } catch (err) {
      setOut({ text: err instanceof ApiError ? `${err.message}${err.hint ? ` (${err.hint})` : ''}` : String(err), error: true });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="request-box" onSubmit={send}>
      <b>Request</b>
      <select value={op} onChange={(e) => setOp((e.target as HTMLSelectElement).value as 'put')} data-testid="req-op" aria-label="operation">
        <option value="put">put</option>
        <option value="get">get</option>
        <option value="del">del</option>
      </select>
      <input value={key} onInput={(e) => setKey((e.target as HTMLInputElement).value)} placeholder="key" data-testid="req-key" aria-label="key" />
      {op === 'put' && (
        <input value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} placeholder="value" data-testid="req-value" aria-label="value" />
      )}
      <button type="submit" disabled={busy} data-testid="req-send">
        {busy ? 'sending…' : 'send'}
      </button>
      {out && (
        <span class={`req-result${out.error ? ' error' : ''}`} data-testid="req-result">
          {out.text}
        </span>
      )}
      <span class="hint">f+1 = {info.cluster!.f + 1} matching replies complete a request</span>
    </form>
  );
}

function LiveTimeline({ sel, colours, n, onClose }: { sel: { key: string; firstMs: number }; colours: Info['colours']; n: number; onClose: () => void }) {
  const [recs, setRecs] = useState<DiagramRecord[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const slash = sel.key.lastIndexOf('/');
  const client = sel.key.slice(0, slash);
  const timestamp = sel.key.slice(slash + 1);
  useEffect(() => {
    let gone = false;
    setRecs(null);
    setError(null);
    // the replicas may still be logging it: ask again a little later once
    const load = () =>
      get<{ records: DiagramRecord[] }>(
        `/api/request-trace?client=${encodeURIComponent(client)}&timestamp=${timestamp}&sinceMs=${Math.max(0, Math.floor(sel.firstMs - 10_000))}`,
      )
        .then((t) => !gone && setRecs(t.records))
        .catch((e: unknown) => !gone && setError(e instanceof Error ? e.message : String(e)));
    void load();
    const t = window.setTimeout(load, 1500);
    return () => {
      gone = true;
      window.clearTimeout(t);
    };
  }, [sel.key]);
  return (
    <Timeline
      title={`Request ${client.length > 20 ? `${client.slice(0, 19)}…` : client} / ${timestamp}`}
      records={recs?.filter((r) => r.replica !== CLIENT_LANE) ?? null}
      error={error}
      colours={colours}
      n={n}
      onClose={onClose}
    />
  );
}
