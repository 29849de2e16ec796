import { createServer, type Server } from 'node:http';
import { request } from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeconfigThrough } from './tcp-proxy.ts';

/**
 * A loopback HTTP proxy in front of the test API server (which speaks TLS, so a TCP proxy cannot
 * see requests) that can hold the requests a rule matches until released: a LIST that takes as
 * long as a test needs, as one tenant's 50,000 objects would.
 */
export interface KubeProxy {
  /** A kubeconfig that reaches the API server through this proxy. */
  kubeconfigPath: string;
  /** Holds every request `match` says yes to until `release()`; answers how many are held now. */
  hold(match: (method: string, url: URL) => boolean): void;
  release(): void;
  readonly held: number;
  close(): Promise<void>;
}

export async function startKubeProxy(
  kubeconfigPath: string,
  server: string,
  caFile: string,
  dir: string,
): Promise<KubeProxy> {
  const target = new URL(server);
  const ca = readFileSync(caFile, 'utf8');
  let rule: ((method: string, url: URL) => boolean) | undefined;
  let waiting: (() => void)[] = [];
  const proxy: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', target);
    const forward = () => {
      const up = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
          ca,
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      res.on('close', () => up.destroy());
      req.pipe(up);
    };
    if (rule?.(req.method ?? 'GET', url)) waiting.push(forward);
    else forward();
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as { port: number }).port;
  const path = join(dir, `kubeconfig-proxy-${port}`);
  writeFileSync(path, kubeconfigThrough(readFileSync(kubeconfigPath, 'utf8'), `http://127.0.0.1:${port}`));
  const release = () => {
    rule = undefined;
    const w = waiting;
    waiting = [];
    for (const f of w) f();
  };
  return {
    kubeconfigPath: path,
    hold(match) {
      rule = match;
    },
    release,
    get held() {
      return waiting.length;
    },
    close: () =>
      new Promise<void>((resolve) => {
        release();
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}
