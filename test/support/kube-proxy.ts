import { createServer, type Server } from 'node:http';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeconfigThrough } from './tcp-proxy.ts';

/**
 * A loopback HTTP proxy in front of the test API server (which speaks TLS, so a TCP proxy cannot
 * see requests) that can hold the requests a rule matches until released: a LIST that takes as
 * long as a test needs, as one tenant's 50,000 objects would.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'host',
  'proxy-connection',
]);

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
  let session: ClientHttp2Session | undefined;
  const connect = () => {
    if (!session || session.closed || session.destroyed) {
      session = http2Connect(server, { ca });
      session.on('error', () => undefined);
    }
    return session;
  };
  const proxy: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', target);
    const forward = () => {
      // HTTP/2 to the API server, as warren's own client speaks it.
      const session = connect();
      const headers: Record<string, string | string[]> = {
        ':method': req.method ?? 'GET',
        ':path': req.url ?? '/',
        ':authority': target.host,
      };
      for (const [k, v] of Object.entries(req.headers))
        if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
      const up = session.request(headers);
      up.on('response', (h) => {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(h))
          if (!k.startsWith(':') && v !== undefined) out[k] = v as string;
        res.writeHead(Number(h[':status'] ?? 502), out);
        // A watch may send nothing for long: its client waits for the headers alone.
        res.flushHeaders();
        up.pipe(res);
      });
      up.on('error', () => res.destroy());
      res.on('close', () => up.close());
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
        session?.destroy();
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}
