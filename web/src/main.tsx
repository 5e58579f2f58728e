/** pbft web: the page. A live cluster (when the server has one) and simulator traces (from the server or a dropped file). */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { type SimTraceFile, parseSimTrace } from '../../src/web/model.js';
import { type Info, get } from './api.js';
import { LiveView } from './live.js';
import { TraceView } from './trace.js';
import './style.css';

function App() {
  const [info, setInfo] = useState<Info | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tab, setTab] = useState<'live' | 'trace'>('live');
  const [trace, setTrace] = useState<{ t: SimTraceFile; name: string } | null>(null);
  const [traceError, setTraceError] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);

  useEffect(() => {
    get<Info>('/api/info')
      .then((i) => {
        setInfo(i);
        if (i.mode === 'trace') setTab('trace');
        if (i.hasTrace)
          get<unknown>('/api/trace')
            .then((t) => {
              setTrace({ t: parseSimTrace(t), name: 'from pbft web --trace' });
              if (i.mode === 'trace') setTab('trace');
            })
            .catch((e: unknown) => setTraceError(String(e)));
      })
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  }, []);

  const openFile = async (file: File) => {
    setTraceError(null);
    try {
      const t = parseSimTrace(JSON.parse(await file.text()));
      setTrace({ t, name: file.name });
      setTab('trace');
    } catch (e) {
      setTraceError(`${file.name}: ${e instanceof Error ? e.message : String(e)}`);
      setTab('trace');
    }
  };

  if (error) return <div class="fatal">Cannot reach pbft web: {error}</div>;
  if (!info) return <div class="hint">loading…</div>;
  // a trace needs lanes for its replicas: colours come from the server for the larger of the two
  const colours = trace && trace.t.n > info.colours.replicas.length ? extendColours(info.colours, trace.t.n) : info.colours;
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: the whole page takes a dropped trace file; the file input in the header is the keyboard way
    <div
      class={`app${dragging ? ' dragging' : ''}`}
      onDragOver={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => {
        e.preventDefault();
        setDragging(false);
        const f = e.dataTransfer?.files[0];
        if (f) void openFile(f);
      }}
    >
      <header>
        <span class="title">pbft web</span>
        <nav>
          {info.mode === 'cluster' && (
            <button type="button" class={tab === 'live' ? 'active' : ''} onClick={() => setTab('live')} data-testid="tab-live">
              Live cluster
            </button>
          )}
          <button type="button" class={tab === 'trace' ? 'active' : ''} onClick={() => setTab('trace')} data-testid="tab-trace">
            Simulator trace{trace ? `: seed ${trace.t.seed}` : ''}
          </button>
        </nav>
        <label class="file">
          open a trace…
          <input
            type="file"
            accept=".json,application/json"
            data-testid="trace-file"
            onChange={(e) => {
              const f = (e.target as HTMLInputElement).files?.[0];
              if (f) void openFile(f);
            }}
          />
        </label>
      </header>
      <main>
        {tab === 'live' && info.mode === 'cluster' && <LiveView info={{ ...info, colours }} />}
        {tab === 'trace' && (
          <div>
            {traceError && (
              <div class="error" data-testid="trace-error">
                {traceError}
              </div>
            )}
            {trace ? (
              <TraceView trace={trace.t} info={{ ...info, colours }} name={trace.name} />
            ) : (
              <div class="drop-hint">
                Drop a simulator trace here, or open one above. Write one with <code>pbft sim --seed N --trace-file FILE</code>.
              </div>
            )}
          </div>
        )}
      </main>
    </div>
  );
}

function extendColours(c: Info['colours'], n: number): Info['colours'] {
  const replicas = Array.from({ length: n }, (_, i) => c.replicas[i % c.replicas.length]!);
  return { ...c, replicas };
}

render(<App />, document.getElementById('app')!);
