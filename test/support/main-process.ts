import { join } from 'node:path';
import { REPO } from './environment.ts';
import { freePort } from './ports.ts';
import { startProcess, type Managed } from './processes.ts';

export interface MainProcess {
  name: string;
  /** Its health port: /healthz, /readyz, /metrics. */
  port: number;
  proc: Managed;
}

/**
 * `src/main.ts` as `npm start` runs it (of this checkout, or of another source tree `root`), in a
 * child process watching one namespace, with leader election in it; its log in `logFile`.
 */
export async function startMain(o: {
  name: string;
  namespace: string;
  kubeconfigPath: string;
  logFile: string;
  root?: string;
  env?: Record<string, string>;
}): Promise<MainProcess> {
  const port = await freePort();
  const root = o.root ?? REPO;
  const proc = startProcess(o.name, process.execPath, [join(root, 'src', 'main.ts')], {
    cwd: root,
    logFile: o.logFile,
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: o.kubeconfigPath,
      WATCH_NAMESPACE: o.namespace,
      LEADER_ELECTION_NAMESPACE: o.namespace,
      POD_NAME: o.name,
      HEALTH_PORT: String(port),
      HEALTH_HOST: '127.0.0.1',
      LOG_LEVEL: 'debug',
      ...o.env,
    },
  });
  return { name: o.name, port, proc };
}
