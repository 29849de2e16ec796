// What the benches share: a bounded-parallelism loop, a process's CPU time and the machine's.
import { readdirSync, readFileSync } from 'node:fs';

/** Runs fn over items with at most `width` calls in flight. */
export async function pool<T>(items: T[], width: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

/** CPU seconds (user + system) of a process, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** The machine's CPU at one moment: its busy and total ticks (all cores) and each process's CPU. */
export interface CpuSample {
  busy: number;
  total: number;
  /** CPU seconds per process, named by `labels` (pid to name) or else by its command name. */
  byName: Record<string, number>;
}

export function cpuSample(labels: Record<number, string> = {}): CpuSample {
  // cpu  user nice system idle iowait irq softirq steal ...: idle and iowait are the idle time.
  const ticks = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]!
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number);
  const total = ticks.reduce((a, n) => a + n, 0);
  const byName: Record<string, number> = {};
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = labels[Number(entry)] ?? stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      byName[name] = (byName[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // the process ended meanwhile
    }
  }
  return { busy: total - ticks[3]! - ticks[4]!, total, byName };
}

/**
 * What the machine's CPU did between two samples: how busy all its cores were (0 to 1) and the CPU
 * seconds of each process that spent at least 0.1 s (processes that ended meanwhile are missing).
 */
export function cpuSpent(a: CpuSample, b: CpuSample): { busy: number; seconds: Record<string, number> } {
  const seconds: Record<string, number> = {};
  for (const [name, s] of Object.entries(b.byName)) {
    const spent = s - (a.byName[name] ?? 0);
    if (spent >= 0.1) seconds[name] = Math.round(spent * 10) / 10;
  }
  return { busy: (b.busy - a.busy) / (b.total - a.total), seconds };
}
