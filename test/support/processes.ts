import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// Every process the harness starts is recorded in a pid file under REGISTRY, so a later run can
// kill what an interrupted run (Ctrl-C twice, SIGKILL, a crashed worker) left behind.
const REGISTRY = join(tmpdir(), 'warren-harness-pids');

export interface Managed {
  name: string;
  child: ChildProcess;
  logFile: string;
  stop(graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Kills process groups recorded by runs whose owning harness process is gone. */
export async function reapOrphans(): Promise<void> {
  mkdirSync(REGISTRY, { recursive: true });
  for (const file of readdirSync(REGISTRY)) {
    const [owner, pid] = file.split('-').map(Number);
    if (!owner || !pid) continue;
    if (alive(owner) && owner !== process.pid) continue;
    if (owner === process.pid) continue;
    if (alive(pid)) {
      killGroup(pid, 'SIGTERM');
      for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
      if (alive(pid)) killGroup(pid, 'SIGKILL');
    }
    rmSync(join(REGISTRY, file), { force: true });
  }
}

const running = new Set<Managed>();

/** Kills every process this harness process started; safe to call from signal handlers. */
export function killAllSync(): void {
  for (const m of running) {
    if (m.child.pid) killGroup(m.child.pid, 'SIGKILL');
  }
}

let handlersInstalled = false;
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAllSync();
      process.exit(130);
    });
  }
}

/**
 * Starts a command in its own process group (so its children die with it), logging to logFile
 * and registering its pid for orphan reaping.
 */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; logFile: string },
): Managed {
  installHandlers();
  mkdirSync(REGISTRY, { recursive: true });
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const pidFile = join(REGISTRY, `${process.pid}-${child.pid}`);
  if (child.pid) writeFileSync(pidFile, `${name}\n`);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      rmSync(pidFile, { force: true });
      resolve(code);
    });
    child.once('error', () => resolve(-1));
  });
  const managed: Managed = {
    name,
    child,
    logFile: opts.logFile,
    exited,
    async stop(graceMs = 10_000) {
      running.delete(managed);
      if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
      killGroup(child.pid, 'SIGTERM');
      const timer = setTimeout(() => child.pid && killGroup(child.pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // Helpers left in the group (e.g. Erlang's port programs) go too.
      killGroup(child.pid, 'SIGKILL');
    },
  };
  running.add(managed);
  return managed;
}

/** Polls until check() resolves truthy, failing early if the process exits. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; process?: Managed; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let exited = false;
  void opts.process?.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${what}: process exited early; see ${opts.process?.logFile}`);
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    await sleep(opts.intervalMs ?? 200);
  }
  const tail = opts.process ? logTail(opts.process.logFile) : '';
  throw new Error(`${what}: not ready after ${opts.timeoutMs} ms\n${tail}`);
}

export function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
