// What the benches share: a bounded-parallelism loop, CPU time (a process's, its threads', the
// machine's) and the API server's CPU profile.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Runs fn over items with at most `width` calls in flight. */
export async function pool<T>(items: T[], width: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

/** A /proc stat file's command name and CPU seconds (user + system; USER_HZ is 100). */
function statCpu(path: string): { name: string; seconds: number } {
  const stat = readFileSync(path, 'utf8');
  // The name may hold spaces and parentheses: it runs from the first '(' to the last ')'.
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return {
    name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    seconds: (Number(fields[11]) + Number(fields[12])) / 100, // utime, stime
  };
}

/** VmRSS and VmHWM (the peak RSS so far) of a process, in MB. */
export function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** CPU seconds (user + system) of a process, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  return statCpu(`/proc/${pid}/stat`).seconds;
}

/** CPU seconds summed by name over the numbered entries of a /proc directory (processes or threads). */
function cpuByName(dir: string, labels: Record<number, string> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of readdirSync(dir)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const { name, seconds } = statCpu(`${dir}/${entry}/stat`);
      const key = labels[Number(entry)] ?? name;
      out[key] = (out[key] ?? 0) + seconds;
    } catch {
      // it ended meanwhile
    }
  }
  return out;
}

/** CPU seconds per thread name (the main thread is `node`; V8's and libuv's workers have their own). */
export function threadCpu(pid: number): Record<string, number> {
  return cpuByName(`/proc/${pid}/task`);
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
  return { busy: total - ticks[3]! - ticks[4]!, total, byName: cpuByName('/proc', labels) };
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

/**
 * Writes a CPU profile of the API server over the next `seconds` to `file` (through kubectl's raw
 * GET of /debug/pprof/profile); resolves when it is written, saying so on stderr if it failed.
 */
export function apiServerProfile(
  kubectl: string,
  kubeconfig: string,
  file: string,
  seconds: number,
): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  const get = `get --raw '/debug/pprof/profile?seconds=${seconds}'`;
  const prof = spawn('sh', ['-c', `"$0" --kubeconfig "$1" ${get} > "$2"`, kubectl, kubeconfig, file]);
  return new Promise((resolve) =>
    prof.on('exit', (code) => {
      if (code !== 0) console.error(`bench: the API server's profile ${file} failed (exit ${code})`);
      resolve();
    }),
  );
}
