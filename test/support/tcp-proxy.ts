import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy a test puts between a client (the operator) and a real server (the
 * kube-apiserver, the broker's management API) to inject faults on the wire: stall (bytes stop
 * flowing, connections stay open), cut (every open connection is reset), refuse (new connections
 * are closed at once), and delay (each chunk waits before it is forwarded).
 */
export interface TcpProxy {
  /** The proxy's URL for `target`'s scheme, e.g. https://127.0.0.1:41234 */
  url: string;
  port: number;
  /** Stops forwarding in both directions until resume(); connections stay open. */
  stall(): void;
  resume(): void;
  /** Resets every open connection. */
  cut(): void;
  /** While on, new connections are closed as soon as they are accepted. */
  refuse(on: boolean): void;
  /** Delays every chunk by ms (0: none). */
  delay(ms: number): void;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const url = new URL(target);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const pairs = new Set<Pair>();
  let stalled = false;
  let refusing = false;
  let delayMs = 0;
  let accepted = 0;

  const pipe = (from: Socket, to: Socket) => {
    from.on('data', (chunk) => {
      const send = () => {
        if (!to.destroyed) to.write(chunk);
      };
      // A stalled proxy holds the chunk (and stops reading) until resumed.
      if (stalled) {
        from.pause();
        waiting.push(() => {
          from.resume();
          send();
        });
        return;
      }
      if (delayMs > 0) setTimeout(send, delayMs);
      else send();
    });
  };
  let waiting: Array<() => void> = [];

  const server: Server = createServer((client) => {
    accepted++;
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect({ host, port });
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const proxyPort = typeof address === 'object' && address ? address.port : 0;

  return {
    url: `${url.protocol}//127.0.0.1:${proxyPort}`,
    port: proxyPort,
    stall() {
      stalled = true;
    },
    resume() {
      stalled = false;
      const w = waiting;
      waiting = [];
      for (const f of w) f();
    },
    cut() {
      for (const p of [...pairs]) {
        p.client.resetAndDestroy();
        p.upstream.destroy();
      }
    },
    refuse(on) {
      refusing = on;
    },
    delay(ms) {
      delayMs = ms;
    },
    get accepted() {
      return accepted;
    },
    async close() {
      stalled = false;
      waiting = [];
      for (const p of [...pairs]) {
        p.client.destroy();
        p.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A kubeconfig text like `original` whose cluster server goes through `proxyUrl`. */
export function kubeconfigThrough(original: string, proxyUrl: string): string {
  return original.replace(/^(\s*server:\s*).*$/m, `$1${proxyUrl}`);
}
