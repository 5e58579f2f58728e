/**
 * host-cpu (src/cluster/host-cpu.ts): how busy the machine was over a bench window, from two
 * samples of /proc/stat, and the line `pbft bench` prints (a warning when the cores saturated).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatHostCpu, hostCpuUsage, parseProcStat, sampleHostCpu } from '../../src/cluster/host-cpu.js';

const stat = (user: number, system: number, idle: number, iowait = 0, steal = 0) =>
  [
    `cpu  ${user} 0 ${system} ${idle} ${iowait} 0 0 ${steal} 0 0`,
    `cpu0 ${user / 2} 0 ${system / 2} ${idle / 2} 0 0 0 0 0 0`,
    `cpu1 ${user / 2} 0 ${system / 2} ${idle / 2} 0 0 0 0 0 0`,
    'intr 1 2 3',
    'ctxt 117103080',
  ].join('\n');

describe('host CPU usage', () => {
  it('parses the aggregate line and counts the cores', () => {
    expect(parseProcStat(stat(100, 20, 300, 4, 2))).toEqual({ cores: 2, user: 100, nice: 0, system: 20, idle: 300, iowait: 4, irq: 0, softirq: 0, steal: 2 });
  });

  it('refuses text without a well-formed cpu line', () => {
    expect(parseProcStat('')).toBeNull();
    expect(parseProcStat('cpu0 1 2 3 4')).toBeNull();
    expect(parseProcStat('cpu  1 2 x 4')).toBeNull();
    expect(parseProcStat('cpu  1 2')).toBeNull();
    expect(sampleHostCpu(() => 'garbage')).toBeNull();
    expect(
      sampleHostCpu(() => {
        throw new Error('ENOENT');
      }),
    ).toBeNull();
  });

  it('gives the shares of the window between two samples', () => {
    const u = hostCpuUsage(parseProcStat(stat(1000, 100, 5000)), parseProcStat(stat(1850, 180, 5060, 5, 5)))!;
    // deltas: user 850, system 80, idle 60, iowait 5, steal 5 → total 1000
    expect(u.cores).toBe(2);
    expect(u.busy).toBeCloseTo(0.935, 6);
    expect(u.user).toBeCloseTo(0.85, 6);
    expect(u.system).toBeCloseTo(0.08, 6);
    expect(u.iowait).toBeCloseTo(0.005, 6);
    expect(u.steal).toBeCloseTo(0.005, 6);
    expect(hostCpuUsage(null, parseProcStat(stat(1, 1, 1)))).toBeNull();
    expect(hostCpuUsage(parseProcStat(stat(1, 1, 1)), parseProcStat(stat(1, 1, 1)))).toBeNull();
  });

  it('says when the cores were saturated, and only then', () => {
    const busy = formatHostCpu({ cores: 2, busy: 0.935, user: 0.85, system: 0.08, iowait: 0.005, steal: 0.005 });
    expect(busy).toMatch(/^machine CPU {2}94% busy over the window, 2 cores \(user 85%, system 8%, iowait 1%, stolen by the hypervisor 1%\)/);
    expect(busy).toMatch(/cores were saturated/);
    const calm = formatHostCpu({ cores: 4, busy: 0.4, user: 0.35, system: 0.05, iowait: 0, steal: 0 });
    expect(calm).toBe('machine CPU  40% busy over the window, 4 cores (user 35%, system 5%, iowait 0%)');
    // decided as printed: 84.6% is shown as 85%, and warns; 84.4% does not
    expect(formatHostCpu({ cores: 2, busy: 0.846, user: 0.8, system: 0.046, iowait: 0, steal: 0 })).toMatch(
      /^machine CPU {2}85% busy[^\n]*\n.*saturated: the replicas and this load generator competed/,
    );
    expect(formatHostCpu({ cores: 2, busy: 0.844, user: 0.8, system: 0.044, iowait: 0, steal: 0 })).not.toMatch(/saturated/);
    // time taken by the hypervisor is named as such
    expect(formatHostCpu({ cores: 2, busy: 0.95, user: 0.7, system: 0.05, iowait: 0, steal: 0.2 })).toMatch(
      /stolen by the hypervisor 20%\)\n.*other machines competed/,
    );
  });

  it.runIf(existsSync('/proc/stat'))('reads this machine', () => {
    const s = sampleHostCpu();
    expect(s).not.toBeNull();
    expect(s!.cores).toBeGreaterThanOrEqual(1);
    expect(s!.user + s!.system + s!.idle).toBeGreaterThan(0);
  });
});
