/** A simulator run, stepped through in the same diagram; a failing seed shows where the invariant broke. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { type SimTraceFile, simRecords, timelineOf, violationEntry } from '../../src/web/model.js';
import type { Info } from './api.js';
import { Diagram } from './diagram.js';
import { Legend } from './live.js';
import { Timeline } from './timeline.js';

const WINDOWS = [50, 100, 200, 500, 1000, 2000, 5000];

export function TraceView({ trace, info, name }: { trace: SimTraceFile; info: Info; name: string }) {
  const all = useMemo(() => simRecords(trace), [trace]);
  const bad = useMemo(() => violationEntry(trace), [trace]);
  const [cursor, setCursor] = useState(bad ?? 0);
  const [windowMs, setWindowMs] = useState(200);
  const [playing, setPlaying] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  useEffect(() => {
    setCursor(bad ?? 0);
    setSelected(null);
  }, [trace]);
  useEffect(() => {
    if (!playing) return;
    const t = window.setInterval(() => {
      setCursor((c) => Math.min(c + 1, trace.entries.length - 1));
    }, 60);
    return () => window.clearInterval(t);
  }, [playing, trace]);
  const last = trace.entries.length - 1;
  useEffect(() => {
    if (playing && cursor >= last) setPlaying(false);
  }, [playing, cursor, last]);
  const cur = trace.entries[Math.min(cursor, last)];
  const curMs = cur?.t ?? 0;
  // what happened up to the cursor
  const upTo = useMemo(() => all.filter((r) => r.entry <= cursor), [all, cursor]);
  const violationMs = bad !== null ? trace.entries[bad]?.t : undefined;
  const step = (d: number) => setCursor((c) => Math.max(0, Math.min(last, c + d)));
  // the next entry that draws something (a phase record) in a direction
  const nextDrawn = (d: 1 | -1) => {
    const idx = d > 0 ? all.find((r) => r.entry > cursor)?.entry : [...all].reverse().find((r) => r.entry < cursor)?.entry;
    if (idx !== undefined) setCursor(idx);
  };
  const lines = trace.entries.slice(Math.max(0, cursor - 12), cursor + 8);
  const firstLine = Math.max(0, cursor - 12);
  const sel = selected ? selected.split('/') : null;
  const colours = info.colours;
  return (
    <div>
      <div class={`trace-head ${trace.ok ? 'ok' : 'failing'}`} data-testid="trace-head">
        <b>
          Simulator trace: seed {trace.seed} · n={trace.n} f={trace.f} · {trace.ok ? 'passed' : `FAILED: ${trace.violations.length} violation(s)`}
        </b>
        <span class="hint"> {name}</span>
        <div class="hint scenario">{trace.scenario}</div>
        <div class="hint">
          replay: <code>{trace.replay}</code>
        </div>
        {trace.violations.map((v, i) => (
          <div key={i} class="violation" data-testid="violation">
            {v.invariant}: {v.message}
            {v.timeMs !== undefined ? ` (at ${v.timeMs.toFixed(3)} ms)` : ''}
          </div>
        ))}
      </div>
      <div class="diagram-bar">
        <button type="button" onClick={() => setCursor(0)} title="first event">
          ⏮
        </button>
        <button type="button" onClick={() => nextDrawn(-1)} title="previous drawn event" data-testid="step-back">
          ◀
        </button>
        <button type="button" onClick={() => setPlaying(!playing)} data-testid="play">
          {playing ? '❚❚' : '▶ play'}
        </button>
        <button type="button" onClick={() => nextDrawn(1)} title="next drawn event" data-testid="step-forward">
          ▶
        </button>
        <button type="button" onClick={() => setCursor(last)} title="last event">
          ⏭
        </button>
        {bad !== null && (
          <button type="button" class="danger" onClick={() => setCursor(bad)} data-testid="goto-violation">
            where it broke
          </button>
        )}
        <input type="range" min={0} max={last} value={cursor} onInput={(e) => setCursor(Number((e.target as HTMLInputElement).value))} class="wide" />
        <span data-testid="cursor">
          event {cursor + 1}/{last + 1} · {curMs.toFixed(3)} ms
        </span>
        <label>
          window{' '}
          <select value={windowMs} onChange={(e) => setWindowMs(Number((e.target as HTMLSelectElement).value))}>
            {WINDOWS.map((w) => (
              <option key={w} value={w}>
                {w} ms
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => step(-1)} title="previous event">
          −1
        </button>
        <button type="button" onClick={() => step(1)} title="next event">
          +1
        </button>
      </div>
      <Legend phases={colours.phases} />
      <Diagram
        records={upTo}
        n={trace.n}
        fromMs={curMs - windowMs * 0.8}
        toMs={curMs + windowMs * 0.2}
        originMs={0}
        colours={colours}
        selected={selected}
        onSelect={(k: string) => setSelected(k)}
        cursorMs={curMs}
        {...(violationMs !== undefined ? { violationMs } : {})}
      />
      <div class="trace-lines" data-testid="trace-lines">
        {lines.map((e, i) => (
          <button
            type="button"
            key={firstLine + i}
            class={`trace-line${firstLine + i === cursor ? ' current' : ''}${firstLine + i === bad ? ' bad' : ''}`}
            onClick={() => setCursor(firstLine + i)}
          >
            <span class="num">{e.t.toFixed(3)}ms</span> <span class="who">{e.who}</span> <span class="kind">{e.kind}</span> {e.text}
          </button>
        ))}
      </div>
      {sel && (
        <Timeline
          title={`Request ${selected}`}
          records={timelineOf(upTo, sel.slice(0, -1).join('/'), Number(sel.at(-1)))}
          error={null}
          colours={colours}
          n={trace.n}
          onClose={() => setSelected(null)}
        />
      )}
    </div>
  );
}
