import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** /healthz (process alive), /readyz (caches synced) and /metrics on one port. */
export function startHealthServer(opts: {
  port: number;
  host?: string;
  ready: () => boolean;
  registry: Registry;
}): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200).end('ok');
    } else if (path === '/readyz') {
      const ok = opts.ready();
      res.writeHead(ok ? 200 : 503).end(ok ? 'ok' : 'caches not synced');
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': opts.registry.contentType }).end(await opts.registry.metrics());
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve(server));
  });
}
