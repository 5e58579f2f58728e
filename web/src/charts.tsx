/** Throughput over time and a latency histogram (uPlot), from what the server observes in the phase logs. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { LATENCY_EDGES_MS, type StatsSnapshot } from '../../src/web/stats.js';

/** bucket labels: the upper bound of each (ms, or s from 1000 ms on), and the overflow */
const LABELS = [...LATENCY_EDGES_MS.map((e) => (e >= 1000 ? `${e / 1000}s` : `${e}`)), `>${LATENCY_EDGES_MS.at(-1)! / 1000}s`];

const AXIS = { stroke: '#adbac7', grid: { stroke: '#2d333b' }, ticks: { stroke: '#444c56' } };

function usePlot(make: (el: HTMLElement) => uPlot, data: uPlot.AlignedData) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    plot.current = make(el.current!);
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
  return el;
}

export function Charts({ stats, throughputColour, latencyColour }: { stats: StatsSnapshot | null; throughputColour: string; latencyColour: string }) {
  const tp: uPlot.AlignedData = stats ? [stats.throughput.map(([s]) => s / 1000), stats.throughput.map(([, c]) => c)] : [[], []];
  const lat = stats?.latency;
  const hist: uPlot.AlignedData = lat ? [lat.counts.map((_, i) => i), lat.counts] : [[], []];
  const tpEl = usePlot(
    (el) =>
      new uPlot(
        {
          width: 590,
          height: 180,
          legend: { show: false },
          scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(5, max * 1.1)] } },
          axes: [AXIS, { ...AXIS, label: 'requests/s', size: 50 }],
          series: [{}, { label: 'completed requests/s', stroke: throughputColour, fill: `${throughputColour}33`, width: 1.5 }],
        },
        [[], []],
        el,
      ),
    tp,
  );
  const histEl = usePlot(
    (el) =>
      new uPlot(
        {
          width: 590,
          height: 180,
          legend: { show: false },
          scales: { x: { time: false, range: (_u, min, max) => [min - 0.5, max + 0.5] }, y: { range: (_u, _min, max) => [0, Math.max(5, max * 1.1)] } },
          axes: [
            { ...AXIS, label: 'latency up to (ms)', values: (_u, splits) => splits.map((s) => LABELS[s] ?? ''), space: 20, incrs: [1] },
            { ...AXIS, label: 'requests', size: 50 },
          ],
          series: [
            {},
            { label: 'requests', stroke: latencyColour, fill: `${latencyColour}88`, paths: uPlot.paths.bars!({ size: [0.8, 60] }), points: { show: false } },
          ],
        },
        [[], []],
        el,
      ),
    hist,
  );
  return (
    <div class="charts">
      <div class="chart" data-testid="throughput-chart">
        <div class="chart-title">Throughput: requests completed per second (f+1 replies logged) · {stats?.completed ?? 0} since the page's server started</div>
        <div ref={tpEl} />
      </div>
      <div class="chart" data-testid="latency-chart">
        <div class="chart-title">
          Latency, last {lat?.windowSec ?? 60} s: first replica's request record to the (f+1)th reply · n={lat?.n ?? 0}
          {lat?.p50 != null ? ` · p50 ${lat.p50} ms · p99 ${lat.p99} ms` : ''}
        </div>
        <div ref={histEl} />
      </div>
    </div>
  );
}
