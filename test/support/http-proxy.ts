import { createServer, request, type Server } from 'node:http';

/**
 * A loopback HTTP proxy in front of a broker's management API that makes chosen requests slow:
 * a slow broker, as opposed to a dead one. It counts the requests it forwarded per method.
 */
export interface SlowProxy {
  url: string;
  /** Delays requests whose path (without query) matches `match` by ms; undefined: none. */
  slow(match: RegExp | undefined, ms?: number): void;
  readonly requests: Record<string, number>;
  /** Every request forwarded, as "METHOD /path" (without the query). */
  readonly log: string[];
  close(): Promise<void>;
}

export async function startSlowProxy(target: string): Promise<SlowProxy> {
  const t = new URL(target);
  let rule: { match: RegExp; ms: number } | undefined;
  const requests: Record<string, number> = {};
  const log: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    requests[req.method ?? 'GET'] = (requests[req.method ?? 'GET'] ?? 0) + 1;
    log.push(`${req.method} ${path}`);
    const delay = rule && rule.match.test(path) ? rule.ms : 0;
    const forward = () => {
      const up = request(
        { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (delay) setTimeout(forward, delay);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    slow(match, ms = 0) {
      rule = match ? { match, ms } : undefined;
    },
    requests,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
