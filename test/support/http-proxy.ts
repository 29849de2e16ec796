import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

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

/** Sends a request on to `target` as it came, and its answer back. */
export function forwardTo(target: URL, req: IncomingMessage, res: ServerResponse): void {
  const up = request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
    (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    },
  );
  up.on('error', () => res.destroy());
  req.pipe(up);
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
    const forward = () => forwardTo(t, req, res);
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

/**
 * A loopback HTTP proxy in front of a broker's management API that can hold one request and send
 * it on later, whether or not its client is still waiting: a write the broker goes on with after
 * the client gave up on it (a slow vhost DELETE outliving its sender's leadership).
 */
export interface HoldingProxy {
  url: string;
  /** Holds the next `method path` until `release()` says true (checked every 50 ms, at most 5 min). */
  holdOnce(method: string, path: string, release: () => boolean): void;
  /** Whether the held request has arrived. */
  readonly holding: boolean;
  /** Every answer the broker gave, in order: "METHOD /path STATUS" (`held` marks the held one). */
  readonly answers: string[];
  close(): Promise<void>;
}

export async function startHoldingProxy(target: string): Promise<HoldingProxy> {
  const t = new URL(target);
  let rule: { method: string; path: string; release: () => boolean } | undefined;
  let holding = false;
  const answers: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const held = !!rule && rule.method === req.method && rule.path === path;
    const release = held ? rule!.release : undefined;
    if (held) {
      rule = undefined;
      holding = true;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = () => {
        const up = request(
          { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
          (r) => {
            answers.push(`${req.method} ${path} ${r.statusCode}${held ? ' held' : ''}`);
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
          },
        );
        up.on('error', () => res.destroy());
        res.on('error', () => undefined);
        up.end(Buffer.concat(chunks));
      };
      if (!release) return forward();
      const started = Date.now();
      const poll = () => {
        if (release() || Date.now() - started > 300_000) return forward();
        const timer = setTimeout(() => {
          timers.delete(timer);
          poll();
        }, 50);
        timers.add(timer);
      };
      poll();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    holdOnce(method, path, release) {
      rule = { method, path, release };
      holding = false;
    },
    get holding() {
      return holding;
    },
    answers,
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
