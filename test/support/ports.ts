import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

// Ports are chosen below the kernel's ephemeral range: a port the kernel hands out for `listen(0)`
// can be taken, before our process binds it, as the local port of any outgoing connection (etcd's
// clients, the broker's own), which made a broker fail to start once (dist_port_already_used).
const EPHEMERAL_LOW = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return 32768;
  }
})();
const LOW = 15000;
const given = new Set<number>();

const bindable = (port: number) =>
  new Promise<number | undefined>((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : undefined));
    });
  });

/** A free TCP port on 127.0.0.1, outside the ephemeral range when there is room below it. */
export async function freePort(): Promise<number> {
  if (EPHEMERAL_LOW - LOW > 1000) {
    for (let attempt = 0; attempt < 100; attempt++) {
      const port = LOW + Math.floor(Math.random() * (EPHEMERAL_LOW - LOW));
      if (given.has(port)) continue;
      if ((await bindable(port)) === port) {
        given.add(port);
        return port;
      }
    }
  }
  const port = await bindable(0);
  if (port === undefined) throw new Error('no free port');
  given.add(port);
  return port;
}
