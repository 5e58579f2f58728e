/**
 * How busy the whole machine was over a window (Linux's /proc/stat): a local cluster's replicas
 * and the load generator share the machine's cores, so a benchmark whose cores were saturated
 * measures the machine as much as pbft. Elsewhere (no /proc/stat), nothing is reported. In a
 * container with a CPU quota /proc/stat still counts the whole host's cores, so the share is the
 * host's, not the quota's.
 */
import { readFileSync } from 'node:fs';

/** The aggregate `cpu` line of /proc/stat: jiffies spent in each state since boot. */
export interface HostCpuSample {
  cores: number;
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

/** Shares of the machine's time over a window, 0..1 each (busy = everything but idle and iowait). */
export interface HostCpuUsage {
  cores: number;
  busy: number;
  user: number;
  system: number;
  iowait: number;
  steal: number;
}

/** At or above this busy share, the machine's cores were the limit (see formatHostCpu). */
export const SATURATED_BUSY = 0.85;

/** Parse /proc/stat's text; null when it has no well-formed aggregate `cpu` line. */
export function parseProcStat(text: string): HostCpuSample | null {
  const lines = text.split('\n');
  const agg = lines.find((l) => /^cpu\s/.test(l));
  if (agg === undefined) return null;
  const f = agg.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((x) => !Number.isFinite(x) || x < 0)) return null;
  const cores = lines.filter((l) => /^cpu\d+\s/.test(l)).length;
  const at = (i: number) => f[i] ?? 0;
  return { cores: Math.max(1, cores), user: at(0), nice: at(1), system: at(2), idle: at(3), iowait: at(4), irq: at(5), softirq: at(6), steal: at(7) };
}

/** This machine's sample now (null where /proc/stat cannot be read or parsed). */
export function sampleHostCpu(read: () => string = () => readFileSync('/proc/stat', 'utf8')): HostCpuSample | null {
  try {
    return parseProcStat(read());
  } catch {
    return null;
  }
}

/** The usage between two samples; null when either is missing or no time passed between them. */
export function hostCpuUsage(a: HostCpuSample | null, b: HostCpuSample | null): HostCpuUsage | null {
  if (a === null || b === null) return null;
  const d = (k: keyof HostCpuSample) => Math.max(0, b[k] - a[k]);
  const user = d('user') + d('nice');
  const system = d('system') + d('irq') + d('softirq');
  const idle = d('idle');
  const iowait = d('iowait');
  const steal = d('steal');
  const total = user + system + idle + iowait + steal;
  if (total <= 0) return null;
  return { cores: b.cores, busy: (user + system + steal) / total, user: user / total, system: system / total, iowait: iowait / total, steal: steal / total };
}

/** One line for `pbft bench`, with a warning when the cores were saturated. */
export function formatHostCpu(u: HostCpuUsage): string {
  const pct = (x: number) => `${Math.round(x * 100)}%`;
  const parts = [`user ${pct(u.user)}`, `system ${pct(u.system)}`, `iowait ${pct(u.iowait)}`];
  if (u.steal >= 0.005) parts.push(`stolen by the hypervisor ${pct(u.steal)}`);
  const line = `machine CPU  ${pct(u.busy)} busy over the window, ${u.cores} core${u.cores === 1 ? '' : 's'} (${parts.join(', ')})`;
  // (decided on the share as printed: 84.6% shows as 85% and warns)
  if (Math.round(u.busy * 100) < Math.round(SATURATED_BUSY * 100)) return line;
  const who = u.steal >= 0.05 ? 'the replicas, this load generator and (through the hypervisor) other machines' : 'the replicas and this load generator';
  return `${line}\n             the cores were saturated: ${who} competed for them, so these figures are the machine's limit as much as pbft's`;
}
