import type { Logger } from 'pino';
import { Deadline } from './deadline.ts';
import { wasNeverSent } from './unsent.ts';
import { request } from 'undici';
import type { KubeConfig } from './kubeconfig.ts';

// A small Kubernetes API client: JSON requests and watches over undici, with leader fencing on
// writes and a request count per verb. What warren needs of the API, nothing more.

/** An error answer of the API server: its HTTP code and the Status it sent (never other body). */
export class KubeError extends Error {
  readonly code: number;
  readonly statusCode: number;
  readonly reason?: string;
  readonly status?: { reason?: string; message?: string; details?: { causes?: Array<{ type?: string }> } };

  constructor(code: number, method: string, path: string, body: string) {
    let status: KubeError['status'];
    try {
      status = JSON.parse(body);
    } catch {
      status = undefined;
    }
    const msg = status?.message ?? (body.length < 200 ? body.trim() : '');
    super(`${method} ${path}: ${code}${status?.reason ? ` ${status.reason}` : ''}${msg ? `: ${msg}` : ''}`);
    this.name = 'KubeError';
    this.code = code;
    this.statusCode = code;
    this.reason = status?.reason;
    this.status = status;
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Content type of the body: JSON by default, or a patch type. */
  contentType?: 'json' | 'merge-patch' | 'json-patch';
  accept?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface KubeClientOptions {
  /** Asked before every request that is not a read; false refuses it (leader fencing). */
  canWrite?: () => boolean;
  /** Given to every write: when it aborts (leadership ended) the write in flight is cut off. */
  writeSignal?: () => AbortSignal | undefined;
  /** Each write (method and path, never the body) is logged at debug level. */
  log?: Logger;
  /** Called for every request with its verb (get, list, watch, create, patch, update, delete). */
  onRequest?: (verb: string) => void;
}

const CONTENT_TYPES = {
  json: 'application/json',
  'merge-patch': 'application/merge-patch+json',
  'json-patch': 'application/json-patch+json',
} as const;
const DEFAULT_TIMEOUT_MS = 30_000;

export interface WatchOptions {
  accept?: string;
  /** The server ends the watch after this long; the informer then watches on from where it was. */
  serverTimeoutSeconds?: number;
  /** No byte for this long (a half-open connection) ends the watch with a TimeoutError. */
  inactivityMs?: number;
}

export class KubeClient {
  readonly config: KubeConfig;
  private readonly o: KubeClientOptions;

  constructor(config: KubeConfig, opts: KubeClientOptions = {}) {
    this.config = config;
    this.o = opts;
  }

  /** A JSON request; resolves to the parsed answer, or throws a KubeError for an error status. */
  async request<T = any>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const write = method !== 'GET';
    const verb = verbOf(method, path, o.query);
    if (write && this.o.canWrite && !this.o.canWrite())
      throw new Error(`not the leader: write refused (${method} ${path})`);
    this.o.onRequest?.(verb);
    if (write) this.o.log?.debug({ method, path }, 'kubernetes write');
    const { authorization, dispatcher } = await this.config.auth();
    const deadline = new Deadline(o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signals = [deadline.signal];
    if (o.signal) signals.push(o.signal);
    const ws = write ? this.o.writeSignal?.() : undefined;
    if (ws) signals.push(ws);
    const headers: Record<string, string> = {
      accept: o.accept ?? 'application/json',
      'user-agent': 'warren',
    };
    if (authorization) headers.authorization = authorization;
    if (o.body !== undefined) headers['content-type'] = CONTENT_TYPES[o.contentType ?? 'json'];
    const send = () =>
      request(this.url(path, o.query), {
        method: method as 'GET',
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
        dispatcher,
        signal: signals.length === 1 ? deadline.signal : AbortSignal.any(signals),
      });
    try {
      // Once more if undici dropped it unsent (see wasNeverSent).
      const res = await send().catch((err: unknown) => {
        if (wasNeverSent(err)) return send();
        throw err;
      });
      const text = await res.body.text();
      if (res.statusCode >= 300) throw new KubeError(res.statusCode, method, path, text);
      return (text ? JSON.parse(text) : undefined) as T;
    } finally {
      deadline.clear();
    }
  }

  /**
   * Watches a collection: onEvent for every event (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR),
   * done() exactly once when the watch ends (null: a normal end), also when it could not start.
   * Resolves, once the server answered or the watch ended, with a controller that stops it.
   */
  async watch(
    path: string,
    params: Query,
    onEvent: (phase: string, obj: any) => void,
    done: (err: unknown) => void,
    w: WatchOptions = {},
  ): Promise<AbortController> {
    const ac = new AbortController();
    const inactivityMs = w.inactivityMs ?? 90_000;
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: unknown) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (!ac.signal.aborted) ac.abort();
      done(err);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const err = new DOMException('no data from the watch', 'TimeoutError');
        ac.abort(err);
        finish(err);
      }, inactivityMs);
      timer.unref();
    };
    ac.signal.addEventListener('abort', () => finish(ac.signal.reason ?? null));
    this.o.onRequest?.('watch');
    try {
      arm();
      const { authorization, dispatcher } = await this.config.auth();
      const headers: Record<string, string> = {
        accept: w.accept ?? 'application/json',
        'user-agent': 'warren',
      };
      if (authorization) headers.authorization = authorization;
      const query = { ...params, watch: 'true', timeoutSeconds: w.serverTimeoutSeconds ?? 300 };
      const res = await request(this.url(path, query), {
        method: 'GET',
        headers,
        dispatcher,
        signal: ac.signal,
      });
      if (res.statusCode !== 200) throw new KubeError(res.statusCode, 'GET', path, await res.body.text());
      arm();
      let buffered = '';
      res.body.setEncoding('utf8');
      res.body.on('data', (chunk: string) => {
        if (finished) return;
        arm();
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (!line) continue;
          let event: { type: string; object: any };
          try {
            event = JSON.parse(line);
          } catch (err) {
            finish(err);
            return;
          }
          onEvent(event.type, event.object);
        }
      });
      res.body.on('end', () => finish(null));
      res.body.on('error', (err) => finish(err));
      res.body.on('close', () => finish(null));
    } catch (err) {
      finish(err);
    }
    return ac;
  }

  private url(path: string, query: Query = {}): string {
    const url = new URL(this.config.server + path);
    for (const [k, v] of Object.entries(query))
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    return url.toString();
  }
}

/** The API's verb for a request, as RBAC names it. */
function verbOf(method: string, path: string, query: Query = {}): string {
  switch (method) {
    case 'GET': {
      if (query.watch) return 'watch';
      // A collection path ends with the resource (plural) segment: /api/v1/namespaces/x/secrets.
      const parts = path.split('?')[0]!.split('/').filter(Boolean);
      const collection = parts[0] === 'api' ? parts.length % 2 === 1 : parts.length % 2 === 0;
      return collection && !path.endsWith('/status') ? 'list' : 'get';
    }
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return method.toLowerCase();
  }
}
