// Client for the RabbitMQ management HTTP API. It does one request per call; the operator's work
// queue owns retries and backoff. The one exception is an idempotent request that died on a
// keep-alive connection the broker had just closed: that is the transport, not the broker, and it
// is sent again once at once. Failures are ManagementErrors whose message never carries
// credentials or request bodies.
import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';
import { Agent, buildConnector, request } from 'undici';
import { Deadline } from '../runtime/deadline.ts';
import { intern, NO_ARGUMENTS } from '../runtime/intern.ts';
import { wasNeverSent } from '../runtime/unsent.ts';
import type { Logger } from 'pino';
import { errorFromNoResponse, errorFromResponse, ManagementError } from './errors.ts';
import { isHashingAlgorithm } from './password.ts';
import { api, segment } from './path.ts';
import { noteRequest } from './request-count.ts';
import {
  capabilities,
  isQueueType,
  QUEUE_TYPES,
  queueListColumns,
  queueTypeFromArguments,
  type Capabilities,
} from './versions.ts';

export interface ManagementClientOptions {
  /** Base URL of the management listener, e.g. http://rabbit:15672 (a path prefix is kept). */
  endpoint: string;
  username: string;
  password: string;
  /** Requests in flight at once for this client (default 8; the broker gains little beyond its CPU count). */
  maxConcurrentRequests?: number;
  /** Per-request timeout (default 30 s). Vhost PUT/DELETE get at least 60 s: they are synchronous and slow. */
  timeoutMs?: number;
  /**
   * TLS for an https endpoint. `ca` replaces Node's trust store: pass the system CAs along to add
   * to them. `servername`: the name the certificate must carry (default: the endpoint's host).
   */
  https?: {
    ca?: string | string[];
    cert?: string;
    key?: string;
    rejectUnauthorized?: boolean;
    servername?: string;
  };
  /**
   * Asked before every request that is not a GET; false refuses the write (fencing: a replica
   * that is not certainly the leader must not change the broker).
   */
  canWrite?: () => boolean;
  /**
   * Given to every write: when it aborts (leadership ended) the write in flight is cut off and
   * fails as refused, so it cannot land after the fence closed.
   */
  writeSignal?: () => AbortSignal | undefined;
  /** Each write (method and path, never the body) is logged at debug level. */
  log?: Logger;
  /** Largest answer read (default 64 MiB); a larger one is cut off and fails as ServerError. */
  maxAnswerBytes?: number;
}

export interface ClientStats {
  /** Calls made (a retried call counts once here and once in `retries`). */
  requests: number;
  byMethod: Record<string, number>;
  /** Most requests seen in flight at once. */
  peakInFlight: number;
  /** Calls sent a second time after a reset on a stale keep-alive connection. */
  retries: number;
}

/** A write refused because this replica is not (certainly) the leader. Not a broker failure. */
export class WriteRefusedError extends Error {
  constructor(method: string, path: string) {
    super(`not the leader: write refused (${method} ${path})`);
    this.name = 'WriteRefusedError';
  }
}

/** A call on a client that was closed (e.g. replaced after its credentials changed). */
export class ClientClosedError extends Error {
  constructor(method: string, path: string) {
    super(`management client closed (${method} ${path})`);
    this.name = 'ClientClosedError';
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface Overview {
  rabbitmq_version: string;
  management_version: string;
  cluster_name: string;
  node: string;
  erlang_version?: string;
  product_name?: string;
  product_version?: string;
}

export interface VhostInfo {
  name: string;
  description: string;
  tags: string[];
  /** Undefined when unset (3.x reports the string "undefined"; that is mapped away). */
  default_queue_type?: string;
  tracing: boolean;
  metadata?: Record<string, unknown>;
  /** 4.1+. */
  protected_from_deletion?: boolean;
}

export interface VhostBody {
  description: string;
  tags: string[];
  defaultQueueType?: string;
  tracing?: boolean;
}

export type VhostLimitName = 'max-connections' | 'max-queues';
export type UserLimitName = 'max-connections' | 'max-channels';

export interface VhostLimits {
  vhost: string;
  value: Record<string, number>;
}

export interface UserLimits {
  user: string;
  value: Record<string, number>;
}

export interface UserInfo {
  name: string;
  /** "" when password login is disabled. */
  password_hash: string;
  hashing_algorithm: string;
  tags: string[];
  limits: Record<string, number>;
}

export type UserBody =
  | { password_hash: string; hashing_algorithm: string; tags: string[] }
  | { passwordless: true; tags: string[] };

export interface PermissionBody {
  configure: string;
  write: string;
  read: string;
}

export interface Permission extends PermissionBody {
  user: string;
  vhost: string;
}

export interface TopicPermissionBody {
  exchange: string;
  write: string;
  read: string;
}

export interface TopicPermission extends TopicPermissionBody {
  user: string;
  vhost: string;
}

export interface QueueBody {
  durable: boolean;
  auto_delete: boolean;
  arguments: Record<string, unknown>;
}

export interface QueueInfo extends QueueBody {
  name: string;
  vhost: string;
  type: string;
  exclusive?: boolean;
  node?: string;
  state?: string;
}

export interface ExchangeBody {
  type: string;
  durable: boolean;
  auto_delete: boolean;
  internal: boolean;
  arguments: Record<string, unknown>;
}

export interface ExchangeInfo extends ExchangeBody {
  name: string;
  vhost: string;
}

export type DestinationType = 'queue' | 'exchange';

export interface BindingBody {
  source: string;
  destination: string;
  destination_type: DestinationType;
  routing_key: string;
  arguments: Record<string, unknown>;
}

export interface BindingInfo extends BindingBody {
  vhost: string;
  /** The broker's key for the routing key and arguments, used to address the binding. */
  properties_key: string;
}

export type PolicyKind = 'policy' | 'operator-policy';

export interface PolicyBody {
  pattern: string;
  definition: Record<string, unknown>;
  priority: number;
  'apply-to': string;
}

export interface PolicyInfo extends PolicyBody {
  name: string;
  vhost: string;
}

/** A runtime parameter (shovel, federation-upstream, federation-upstream-set, ...). */
export interface ParameterInfo {
  component: string;
  vhost: string;
  name: string;
  value: unknown;
}

/** A dynamic shovel's state, as the shovel status list reports it. */
export interface ShovelStatus {
  vhost: string;
  name: string;
  /** running, starting or terminated. */
  state: string;
  /** Why it terminated (4.x; 3.10 gives none for a failed connection and keeps it 'starting'). */
  reason?: string;
}

/** One federation link (an upstream applied to one exchange or queue). */
export interface FederationLink {
  vhost: string;
  upstream: string;
  type: 'exchange' | 'queue';
  exchange?: string;
  queue?: string;
  /** starting, running, error, shutdown. */
  status: string;
  error?: string;
}

interface RequestOptions {
  body?: unknown;
  query?: Query;
  timeoutMs?: number;
  /** Strings to keep out of error messages (e.g. a password hash the broker may echo). */
  secrets?: string[];
}

type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** A 2xx answer of a shape the management API does not send. */
const notUnderstood = (method: string, path: string, why: string) =>
  new ManagementError({
    method,
    path,
    reason: `answer not understood: ${why.slice(0, 200)}`,
    category: 'ServerError',
  });

/**
 * Reads a body up to `limit` bytes; past that the rest is not waited for (the connection is
 * dropped), so neither a huge nor an endless answer holds memory or a slot.
 */
async function readAtMost(body: Readable, limit: number): Promise<{ bytes: Buffer; cut: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - size));
      body.destroy();
      return { bytes: Buffer.concat(chunks, limit), cut: true };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { bytes: Buffer.concat(chunks, size), cut: false };
}

/** An answer as received; its text is decoded only when asked for (an unchanged list never is). */
class RawResponse {
  readonly status: number;
  readonly bytes: Buffer;
  /** True when only the start of an error answer was read. */
  readonly cut: boolean;
  #text: string | undefined;
  constructor(status: number, bytes: Buffer, cut = false) {
    this.status = status;
    this.bytes = bytes;
    this.cut = cut;
  }

  get body(): string {
    return (this.#text ??= this.bytes.toString('utf8'));
  }
}

const DEFAULT_CONCURRENCY = 8;
const EMPTY: readonly never[] = Object.freeze([]);
const asIs = <T>(row: T): T => row;
/** How long an unread list's last response is kept (well above any survey interval). */
const LIST_MEMO_MS = 2 * 60 * 60_000;
const IDEMPOTENT = new Set<HttpMethod>(['GET', 'PUT', 'DELETE']);
// What a request that never got an answer because the connection was closed under it looks like.
const STALE_CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024 * 1024;
// An error answer carries one reason: its start is enough, and the rest is not waited for.
const MAX_ERROR_ANSWER_BYTES = 64 * 1024;
// Vhost create waits for the vhost to start on every node; delete removes all its queues first.
const VHOST_TIMEOUT_MS = 60_000;
const EXCHANGE_COLUMNS = 'name,vhost,type,durable,auto_delete,internal,arguments';
const SHOVEL_COLUMNS = 'vhost,name,type,state,reason';
const LINK_COLUMNS = 'vhost,upstream,type,exchange,queue,status,error';
const POLICY_PATHS = { policy: '/api/policies', 'operator-policy': '/api/operator-policies' } as const;

/** Waiters are served in arrival order. */
class Semaphore {
  #free: number;
  readonly #waiters: Array<() => void> = [];

  constructor(size: number) {
    this.#free = size;
  }

  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }
}

/** Tags arrive as an array, or as a comma-separated string on some versions. */
export function normalizeTags(tags: unknown): string[] {
  const list = Array.isArray(tags) ? tags : typeof tags === 'string' ? tags.split(',') : [];
  return list.map((t) => String(t).trim()).filter((t) => t !== '');
}

/** Tags as the broker reads them from a PUT: joined with commas, split on commas, trimmed. */
export const brokerTags = (tags: readonly string[]): string[] => normalizeTags(tags.join(','));

function limitsOf(rows: Array<{ value?: Record<string, number> }> | undefined): Record<string, number> {
  return { ...(rows?.[0]?.value ?? {}) };
}

function toVhost(raw: any): VhostInfo {
  const dqt = raw.default_queue_type;
  const vhost: VhostInfo = {
    name: raw.name,
    description: raw.description ?? '',
    tags: normalizeTags(raw.tags),
    tracing: raw.tracing === true,
  };
  if (typeof dqt === 'string' && dqt !== 'undefined') vhost.default_queue_type = dqt;
  if (raw.metadata !== undefined) vhost.metadata = raw.metadata;
  if (raw.protected_from_deletion !== undefined) vhost.protected_from_deletion = raw.protected_from_deletion;
  return vhost;
}

function toUser(raw: any): UserInfo {
  return {
    name: raw.name,
    password_hash: raw.password_hash ?? '',
    hashing_algorithm: raw.hashing_algorithm ?? '',
    tags: normalizeTags(raw.tags),
    limits: { ...(raw.limits ?? {}) },
  };
}

const policyPath = (kind: PolicyKind, vhost: string, name: string) =>
  `${POLICY_PATHS[kind]}/${segment(vhost)}/${segment(name)}`;

// Rows keep one copy of what thousands of them repeat (vhost, type, empty arguments): the survey
// holds the last answer of every list, 10,000 queues and their bindings at a time.
const args = (a: Record<string, unknown> | undefined) =>
  a && Object.keys(a).length ? { ...a } : NO_ARGUMENTS;
const text = <T>(s: T): T => (typeof s === 'string' ? (intern(s) as T) : s);

function toExchange(raw: any): ExchangeInfo {
  return {
    name: raw.name,
    vhost: text(raw.vhost),
    type: text(raw.type),
    durable: raw.durable === true,
    auto_delete: raw.auto_delete === true,
    internal: raw.internal === true,
    arguments: args(raw.arguments),
  };
}

function toBinding(raw: any): BindingInfo {
  return {
    vhost: text(raw.vhost),
    source: text(raw.source),
    destination: raw.destination,
    destination_type: text(raw.destination_type),
    routing_key: raw.routing_key ?? '',
    arguments: args(raw.arguments),
    properties_key: raw.properties_key,
  };
}

function toPolicy(raw: any): PolicyInfo {
  return {
    name: raw.name,
    vhost: raw.vhost,
    pattern: raw.pattern,
    definition: { ...(raw.definition ?? {}) },
    priority: raw.priority ?? 0,
    'apply-to': raw['apply-to'] ?? 'all',
  };
}

function toQueue(raw: any): QueueInfo {
  const a = args(raw.arguments);
  // Without `type` (not a cheap column before 4.2) the arguments tell: the broker stores
  // x-queue-type whenever it was given or injected, and its absence means classic.
  return { ...raw, vhost: text(raw.vhost), arguments: a, type: text(raw.type ?? queueTypeFromArguments(a)) };
}

/**
 * True when a request failed before any response because its connection was reset or closed
 * (typically a keep-alive socket the server closed as we reused it). Timeouts, refused
 * connections and errors while reading a response are not.
 */
export function isStaleConnectionError(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof ResponseStarted) return false;
  const code = (err as { code?: string }).code ?? (err.cause as { code?: string } | undefined)?.code ?? '';
  return STALE_CONNECTION_CODES.has(code) || /socket hang up|other side closed/i.test(err.message);
}

/** An error raised once the response had begun: never a reason to send the request again. */
class ResponseStarted extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    const code = (cause as { code?: string })?.code;
    if (code) (this as { code?: string }).code = code;
  }
}

export class ManagementClient {
  readonly stats: ClientStats = { requests: 0, byMethod: {}, peakInFlight: 0, retries: 0 };
  readonly #endpoint: string;
  readonly #semaphore: Semaphore;
  readonly #timeoutMs: number;
  readonly #maxAnswerBytes: number;
  readonly #secrets: string[];
  readonly #agent: Agent;
  readonly #auth: string;
  readonly #canWrite: () => boolean;
  readonly #writeSignal: () => AbortSignal | undefined;
  readonly #log: Logger | undefined;
  #inFlight = 0;
  #socketError: { err: Error; at: number } | undefined;
  /** Calls accepted and not finished (waiting for a slot or in flight). */
  #active = 0;
  #closing: { done: Promise<void>; resolve: () => void } | undefined;
  #capabilities: Promise<Capabilities> | undefined;
  /** The last body and decoded value of each list read, by path and query (see #listed). */
  readonly #lists = new Map<string, { bytes: Buffer; value: unknown; at: number }>();

  constructor(options: ManagementClientOptions) {
    const url = new URL(options.endpoint);
    // Credentials belong in username/password, where they stay out of URLs and error messages.
    if (url.username || url.password)
      throw new TypeError('the management endpoint must not contain credentials');
    this.#endpoint = url.href.replace(/\/+$/, '');
    const concurrency = options.maxConcurrentRequests ?? DEFAULT_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError('maxConcurrentRequests must be a positive integer');
    }
    this.#semaphore = new Semaphore(concurrency);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxAnswerBytes = options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
    this.#canWrite = options.canWrite ?? (() => true);
    this.#writeSignal = options.writeSignal ?? (() => undefined);
    this.#log = options.log;
    const auth = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
    this.#secrets = [options.password, auth.slice('Basic '.length)];
    this.#auth = auth;
    // One keep-alive pool per client, as many connections as requests may be in flight; TLS
    // settings (the server name included) apply to every connection it opens.
    const tls = options.https ?? {};
    const connector = buildConnector({
      ...(tls.ca !== undefined && { ca: tls.ca }),
      ...(tls.cert !== undefined && { cert: tls.cert }),
      ...(tls.key !== undefined && { key: tls.key }),
      ...(tls.servername !== undefined && { servername: tls.servername }),
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
    });
    this.#agent = new Agent({
      connections: concurrency,
      keepAliveTimeout: 30_000,
      // undici reports a TLS alert from the broker (a client certificate required or refused) as
      // "other side closed": keep the socket's own error to say what happened.
      connect: (opts, cb) =>
        connector(opts, (err, socket) => {
          socket?.once('error', (e: Error & { code?: string }) => {
            if (e.code !== 'UND_ERR_SOCKET') this.#socketError = { err: e, at: Date.now() };
          });
          if (err) cb(err, null);
          else cb(null, socket!);
        }),
    });
  }

  /**
   * Refuses new calls, lets the calls already made finish, then closes the keep-alive
   * connections. Resolves once they are closed. (A credentials change replaces the client while
   * reconciles are using it: they must not fail as if the broker went away.)
   */
  close(): Promise<void> {
    if (!this.#closing) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      this.#closing = { done, resolve };
      this.#closeIfIdle();
    }
    return this.#closing.done;
  }

  /** The management API base URL this client talks to. */
  get endpoint(): string {
    return this.#endpoint;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  #closeIfIdle(): void {
    if (!this.#closing || this.#active > 0) return;
    void this.#agent.destroy().then(this.#closing.resolve, this.#closing.resolve);
  }

  // ---------------------------------------------------------------- generic

  /** GET a JSON document; undefined on 404. */
  async get<T>(path: string, query?: Query): Promise<T | undefined> {
    const res = await this.#call('GET', path, { query }, [200, 404]);
    if (res.status === 404) return undefined;
    const value = this.#parse(res, 'GET', path);
    // Every document the management API serves is an object or a list of them.
    if (value === null || typeof value !== 'object')
      throw notUnderstood('GET', path, 'not a JSON object or list');
    return value as T;
  }

  /** PUT a JSON body: 'created' for 201, 'updated' for 204 (also for an unchanged object). */
  async put(
    path: string,
    body: unknown,
    options: Omit<RequestOptions, 'body'> = {},
  ): Promise<'created' | 'updated'> {
    const res = await this.#call('PUT', path, { ...options, body }, [200, 201, 204]);
    return res.status === 201 ? 'created' : 'updated';
  }

  /** POST a JSON body; returns the response body when there is one. */
  async post(path: string, body: unknown): Promise<unknown> {
    const res = await this.#call('POST', path, { body }, [200, 201, 204]);
    return res.body ? this.#parse(res, 'POST', path) : undefined;
  }

  /** DELETE; false when there was nothing to delete (404). */
  async delete(
    path: string,
    query?: Query,
    options: Omit<RequestOptions, 'query' | 'body'> = {},
  ): Promise<boolean> {
    const res = await this.#call('DELETE', path, { ...options, query }, [200, 204, 404]);
    return res.status !== 404;
  }

  // ---------------------------------------------------------------- broker

  async overview(): Promise<Overview> {
    const o = await this.get<Overview>(api`/overview`);
    if (!o)
      throw new ManagementError({
        method: 'GET',
        path: '/api/overview',
        status: 404,
        reason: 'Not Found',
        category: 'NotFound',
      });
    // The version decides how warren talks to the broker: without one, nothing is safe to send.
    if (typeof o.rabbitmq_version !== 'string' || !/^\d+\.\d+/.test(o.rabbitmq_version))
      throw notUnderstood('GET', '/api/overview', 'no rabbitmq_version');
    return o;
  }

  /** The broker's capabilities, from its version (looked up once; retried after a failure). */
  capabilities(): Promise<Capabilities> {
    this.#capabilities ??= this.overview().then(
      (o) => capabilities(o.rabbitmq_version),
      (err: unknown) => {
        this.#capabilities = undefined;
        throw err;
      },
    );
    return this.#capabilities;
  }

  // ---------------------------------------------------------------- vhosts

  async getVhost(name: string): Promise<VhostInfo | undefined> {
    const raw = await this.get<any>(api`/vhosts/${name}`);
    return raw && toVhost(raw);
  }

  async listVhosts(): Promise<readonly VhostInfo[]> {
    return this.#listedRows(api`/vhosts`, toVhost, { disable_stats: true });
  }

  /**
   * Creates or updates a vhost. Always sends description and tags (a PUT without them resets
   * them) and sends the default queue type under both keys (3.10–3.11.11 only read the old one).
   */
  putVhost(name: string, body: VhostBody): Promise<'created' | 'updated'> {
    const path = api`/vhosts/${name}`;
    const payload: Record<string, unknown> = { description: body.description, tags: body.tags };
    if (body.defaultQueueType !== undefined) {
      // An unknown type makes 3.10.8 answer 500 with a char-list error: refuse it here instead.
      if (!isQueueType(body.defaultQueueType)) {
        return Promise.reject(
          new ManagementError({
            method: 'PUT',
            path,
            reason: `invalid default queue type '${body.defaultQueueType}' (expected ${QUEUE_TYPES.join(', ')})`,
            category: 'Rejected',
          }),
        );
      }
      payload.default_queue_type = body.defaultQueueType;
      payload.defaultqueuetype = body.defaultQueueType;
    }
    if (body.tracing !== undefined) payload.tracing = body.tracing;
    return this.put(path, payload, { timeoutMs: this.#vhostTimeout() });
  }

  deleteVhost(name: string): Promise<boolean> {
    return this.delete(api`/vhosts/${name}`, undefined, { timeoutMs: this.#vhostTimeout() });
  }

  /** 4.1+: turns the vhost's deletion protection on or off (a protected vhost refuses DELETE with 412). */
  async protectVhost(name: string, on: boolean): Promise<void> {
    const path = api`/vhosts/${name}/deletion/protection`;
    if (on) await this.post(path, {});
    else await this.delete(path);
  }

  async getVhostLimits(vhost: string): Promise<Record<string, number>> {
    return limitsOf(await this.get<VhostLimits[]>(api`/vhost-limits/${vhost}`));
  }

  async listVhostLimits(): Promise<readonly VhostLimits[]> {
    return this.#listedRows(api`/vhost-limits`, asIs);
  }

  async putVhostLimit(vhost: string, name: VhostLimitName, value: number): Promise<void> {
    await this.put(api`/vhost-limits/${vhost}/${name}`, { value });
  }

  /** The broker answers 204 whether or not the limit was set. */
  async deleteVhostLimit(vhost: string, name: VhostLimitName): Promise<void> {
    await this.delete(api`/vhost-limits/${vhost}/${name}`);
  }

  // ---------------------------------------------------------------- users

  async getUser(name: string): Promise<UserInfo | undefined> {
    const raw = await this.get<any>(api`/users/${name}`);
    return raw && toUser(raw);
  }

  async listUsers(): Promise<readonly UserInfo[]> {
    return this.#listedRows(api`/users`, toUser);
  }

  /**
   * Creates or updates a user from a client-side hash (see password.ts), or with password login
   * disabled. Never sends a plain password: that re-salts on every PUT.
   */
  putUser(name: string, body: UserBody): Promise<'created' | 'updated'> {
    const path = api`/users/${name}`;
    const tags = brokerTags(body.tags).join(',');
    if ('passwordless' in body) return this.put(path, { password_hash: '', tags });
    // The broker accepts any algorithm name, and the user then can't log in.
    if (!isHashingAlgorithm(body.hashing_algorithm)) {
      return Promise.reject(
        new ManagementError({
          method: 'PUT',
          path,
          reason: `unknown hashing algorithm '${body.hashing_algorithm}'`,
          category: 'Rejected',
        }),
      );
    }
    return this.put(
      path,
      { password_hash: body.password_hash, hashing_algorithm: body.hashing_algorithm, tags },
      { secrets: [body.password_hash] },
    );
  }

  deleteUser(name: string): Promise<boolean> {
    return this.delete(api`/users/${name}`);
  }

  async getUserLimits(user: string): Promise<Record<string, number>> {
    return limitsOf(await this.get<UserLimits[]>(api`/user-limits/${user}`));
  }

  async listUserLimits(): Promise<readonly UserLimits[]> {
    return this.#listedRows(api`/user-limits`, asIs);
  }

  async putUserLimit(user: string, name: UserLimitName, value: number): Promise<void> {
    await this.put(api`/user-limits/${user}/${name}`, { value });
  }

  async deleteUserLimit(user: string, name: UserLimitName): Promise<void> {
    await this.delete(api`/user-limits/${user}/${name}`);
  }

  // ---------------------------------------------------------------- permissions

  getPermission(vhost: string, user: string): Promise<Permission | undefined> {
    return this.get<Permission>(api`/permissions/${vhost}/${user}`);
  }

  async listPermissions(): Promise<readonly Permission[]> {
    return this.#listedRows(api`/permissions`, asIs);
  }

  putPermission(vhost: string, user: string, body: PermissionBody): Promise<'created' | 'updated'> {
    return this.put(api`/permissions/${vhost}/${user}`, {
      configure: body.configure,
      write: body.write,
      read: body.read,
    });
  }

  deletePermission(vhost: string, user: string): Promise<boolean> {
    return this.delete(api`/permissions/${vhost}/${user}`);
  }

  /** Every exchange's topic permission for this user and vhost; [] when there are none (404). */
  async getTopicPermissions(vhost: string, user: string): Promise<TopicPermission[]> {
    return (await this.get<TopicPermission[]>(api`/topic-permissions/${vhost}/${user}`)) ?? [];
  }

  async listTopicPermissions(): Promise<readonly TopicPermission[]> {
    return this.#listedRows(api`/topic-permissions`, asIs);
  }

  /** Upsert keyed by exchange. 'created' only when the user had none in this vhost. */
  putTopicPermission(vhost: string, user: string, body: TopicPermissionBody): Promise<'created' | 'updated'> {
    return this.put(api`/topic-permissions/${vhost}/${user}`, {
      exchange: body.exchange,
      write: body.write,
      read: body.read,
    });
  }

  deleteTopicPermission(vhost: string, user: string, exchange: string): Promise<boolean> {
    return this.delete(api`/topic-permissions/${vhost}/${user}/${exchange}`);
  }

  // ---------------------------------------------------------------- queues

  async getQueue(vhost: string, name: string): Promise<QueueInfo | undefined> {
    const raw = await this.get<any>(api`/queues/${vhost}/${name}`, { disable_stats: true });
    return raw && toQueue(raw);
  }

  /** Declares a queue. Only durable, auto_delete and arguments are sent (`exclusive` would be misread). */
  putQueue(vhost: string, name: string, body: QueueBody): Promise<'created' | 'updated'> {
    return this.put(api`/queues/${vhost}/${name}`, {
      durable: body.durable,
      auto_delete: body.auto_delete,
      arguments: body.arguments,
    });
  }

  deleteQueue(
    vhost: string,
    name: string,
    options: { ifEmpty?: boolean; ifUnused?: boolean } = {},
  ): Promise<boolean> {
    return this.delete(api`/queues/${vhost}/${name}`, {
      'if-empty': options.ifEmpty ? true : undefined,
      'if-unused': options.ifUnused ? true : undefined,
    });
  }

  /**
   * The queues of one vhost (or of the whole broker), read without stats and with basic columns
   * only, in one request. [] when the vhost doesn't exist.
   */
  async listQueues(vhost?: string): Promise<readonly QueueInfo[]> {
    const columns = queueListColumns(await this.capabilities()).join(',');
    const path = vhost === undefined ? api`/queues` : api`/queues/${vhost}`;
    return this.#listedRows(path, toQueue, { disable_stats: true, columns });
  }

  // ---------------------------------------------------------------- exchanges

  async getExchange(vhost: string, name: string): Promise<ExchangeInfo | undefined> {
    const raw = await this.get<any>(api`/exchanges/${vhost}/${name}`, { disable_stats: true });
    return raw && toExchange(raw);
  }

  /** Every exchange in a vhost, or in the broker (the default and amq.* ones included), without stats, in one request. */
  async listExchanges(vhost?: string): Promise<readonly ExchangeInfo[]> {
    const path = vhost === undefined ? api`/exchanges` : api`/exchanges/${vhost}`;
    return this.#listedRows(path, toExchange, {
      disable_stats: true,
      columns: EXCHANGE_COLUMNS,
    });
  }

  /** Declares an exchange; every property is sent (left out, the broker's defaults differ from ours). */
  putExchange(vhost: string, name: string, body: ExchangeBody): Promise<'created' | 'updated'> {
    return this.put(api`/exchanges/${vhost}/${name}`, {
      type: body.type,
      durable: body.durable,
      auto_delete: body.auto_delete,
      internal: body.internal,
      arguments: body.arguments,
    });
  }

  deleteExchange(vhost: string, name: string): Promise<boolean> {
    return this.delete(api`/exchanges/${vhost}/${name}`);
  }

  // ---------------------------------------------------------------- bindings

  /** Every binding in a vhost or in the broker but the default exchange's implicit ones. */
  async listBindings(vhost?: string): Promise<readonly BindingInfo[]> {
    const path = vhost === undefined ? api`/bindings` : api`/bindings/${vhost}`;
    // The default exchange's implicit binding of every queue (one per queue, never declarable)
    // is left out: kept, it doubled what the survey holds of a vhost of queues.
    return this.#listed(path, {}, (rows: any[]) =>
      Object.freeze(rows.filter((b) => b.source !== '').map(toBinding)),
    ).then((l) => l ?? EMPTY);
  }

  /** The bindings from one exchange to one queue or exchange. */
  async listBindingsBetween(
    vhost: string,
    source: string,
    destinationType: DestinationType,
    destination: string,
  ): Promise<BindingInfo[]> {
    const path = api`/bindings/${vhost}/e/${source}/${destinationType === 'queue' ? 'q' : 'e'}/${destination}`;
    return ((await this.get<any[]>(path)) ?? []).map(toBinding);
  }

  /** The bindings whose source is this exchange. */
  async listBindingsFrom(vhost: string, exchange: string): Promise<BindingInfo[]> {
    return ((await this.get<any[]>(api`/exchanges/${vhost}/${exchange}/bindings/source`)) ?? []).map(
      toBinding,
    );
  }

  /** Adds a binding (idempotent: the broker answers 201 for a duplicate too). */
  async postBinding(vhost: string, b: BindingBody): Promise<void> {
    const d = b.destination_type === 'queue' ? 'q' : 'e';
    await this.post(api`/bindings/${vhost}/e/${b.source}/${d}/${b.destination}`, {
      routing_key: b.routing_key,
      arguments: b.arguments,
    });
  }

  /** Removes a binding by the properties_key the broker listed for it. */
  deleteBinding(vhost: string, b: BindingInfo): Promise<boolean> {
    const d = b.destination_type === 'queue' ? 'q' : 'e';
    return this.delete(api`/bindings/${vhost}/e/${b.source}/${d}/${b.destination}/${b.properties_key}`);
  }

  // ---------------------------------------------------------------- policies

  async getPolicy(kind: PolicyKind, vhost: string, name: string): Promise<PolicyInfo | undefined> {
    const raw = await this.get<any>(policyPath(kind, vhost, name));
    return raw && toPolicy(raw);
  }

  /** Every policy (or operator policy) of the broker, all vhosts. */
  async listPolicies(kind: PolicyKind): Promise<readonly PolicyInfo[]> {
    return this.#listedRows(POLICY_PATHS[kind], toPolicy);
  }

  putPolicy(kind: PolicyKind, vhost: string, name: string, body: PolicyBody): Promise<'created' | 'updated'> {
    return this.put(policyPath(kind, vhost, name), {
      pattern: body.pattern,
      definition: body.definition,
      priority: body.priority,
      'apply-to': body['apply-to'],
    });
  }

  deletePolicy(kind: PolicyKind, vhost: string, name: string): Promise<boolean> {
    return this.delete(policyPath(kind, vhost, name));
  }

  // ---------------------------------------------------------------- runtime parameters

  /** Every runtime parameter of the broker, all components and vhosts (credentials in URIs included). */
  async listParameters(): Promise<readonly ParameterInfo[]> {
    return this.#listedRows(api`/parameters`, asIs);
  }

  async getParameter(component: string, vhost: string, name: string): Promise<unknown> {
    const raw = await this.get<ParameterInfo>(api`/parameters/${component}/${vhost}/${name}`);
    return raw?.value;
  }

  /** `secrets`: strings to keep out of error messages (the URIs a shovel or upstream carries). */
  putParameter(
    component: string,
    vhost: string,
    name: string,
    value: unknown,
    secrets: string[] = [],
  ): Promise<'created' | 'updated'> {
    return this.put(api`/parameters/${component}/${vhost}/${name}`, { value }, { secrets });
  }

  deleteParameter(component: string, vhost: string, name: string): Promise<boolean> {
    return this.delete(api`/parameters/${component}/${vhost}/${name}`);
  }

  /** Dynamic shovels' states, of one vhost or all; undefined without the shovel management plugin (404). */
  async listShovelStatus(vhost?: string): Promise<ShovelStatus[] | undefined> {
    const path = vhost === undefined ? api`/shovels` : api`/shovels/${vhost}`;
    const rows = await this.get<any[]>(path, { columns: SHOVEL_COLUMNS });
    return rows
      ?.filter((s) => s.type === undefined || s.type === 'dynamic')
      .map((s) => ({
        vhost: s.vhost,
        name: s.name,
        state: s.state,
        reason:
          typeof s.reason === 'string'
            ? s.reason
            : s.reason === undefined
              ? undefined
              : JSON.stringify(s.reason),
      }));
  }

  /** Federation links, of one vhost or all; undefined without the federation management plugin (404). */
  async listFederationLinks(vhost?: string): Promise<FederationLink[] | undefined> {
    const path = vhost === undefined ? api`/federation-links` : api`/federation-links/${vhost}`;
    const rows = await this.get<any[]>(path, { columns: LINK_COLUMNS });
    return rows?.map((l) => ({
      vhost: l.vhost,
      upstream: l.upstream,
      type: l.type,
      exchange: l.exchange,
      queue: l.queue,
      status: l.status,
      error:
        typeof l.error === 'string' ? l.error : l.error === undefined ? undefined : JSON.stringify(l.error),
    }));
  }

  // ---------------------------------------------------------------- lists

  // Lists are read whole, never in pages: the broker builds and sorts the entire list for every
  // page it serves, so 20 pages of 10,000 queues cost it 4 to 5 s of CPU against 0.4 s for one
  // request (bench/list-cost.ts).

  /**
   * A GET of a list whose decoded value is reused when the broker answers exactly as last time: the
   * idle survey re-reads every table, and parsing and mapping unchanged text was most of its CPU.
   * The same list and row objects come back, so callers must not change them (the lists are frozen);
   * comparisons of unchanged rows can be remembered too (kinds/compare.ts sameAsLastTime).
   */
  async #listed<T>(path: string, query: Query, map: (parsed: any) => T): Promise<T | undefined> {
    const res = await this.#call('GET', path, { query }, [200, 404]);
    const id = `${path}?${JSON.stringify(query)}`;
    if (res.status === 404) {
      this.#lists.delete(id);
      return undefined;
    }
    const now = Date.now();
    const last = this.#lists.get(id);
    // Compared as bytes: an unchanged answer is never decoded into a string.
    if (last?.bytes.equals(res.bytes)) {
      last.at = now;
      return last.value as T;
    }
    const parsed = this.#parse(res, 'GET', path);
    let value: T;
    try {
      value = map(parsed);
    } catch (err) {
      // A shape the broker never sends (a proxy's answer, a broken node): a failed read, not a crash.
      throw notUnderstood('GET', path, err instanceof Error ? err.message : String(err));
    }
    this.#lists.set(id, { bytes: res.bytes, value, at: now });
    // Lists no longer read (a vhost that no longer holds resources) are let go.
    for (const [k, v] of this.#lists) if (now - v.at > LIST_MEMO_MS) this.#lists.delete(k);
    return value;
  }

  /**
   * A list read through #listed, each row mapped; [] on 404. The very list of last time while the
   * broker answers the same (the survey then knows its rows unchanged at a glance): read only.
   */
  async #listedRows<T>(path: string, map: (raw: any) => T, query: Query = {}): Promise<readonly T[]> {
    const rowsOf = (rows: unknown) => {
      if (!Array.isArray(rows)) throw new Error('not a JSON list');
      if (rows.some((r) => r === null || typeof r !== 'object'))
        throw new Error('a row is not a JSON object');
      return Object.freeze(rows.map(map));
    };
    return (await this.#listed(path, query, rowsOf)) ?? EMPTY;
  }

  /** Forgets the cached version, e.g. after the broker was upgraded or replaced. */
  resetCapabilities(): void {
    this.#capabilities = undefined;
  }

  // ---------------------------------------------------------------- transport

  #vhostTimeout(): number {
    return Math.max(this.#timeoutMs, VHOST_TIMEOUT_MS);
  }

  #parse(res: RawResponse, method: string, path: string): unknown {
    try {
      return JSON.parse(res.body);
    } catch {
      throw new ManagementError({
        method,
        path,
        status: res.status,
        reason: 'response is not JSON',
        category: 'ServerError',
      });
    }
  }

  async #call(
    method: HttpMethod,
    path: string,
    options: RequestOptions,
    accept: number[],
  ): Promise<RawResponse> {
    if (this.#closing) throw new ClientClosedError(method, path);
    this.#fence(method, path);
    const secrets = [...this.#secrets, ...(options.secrets ?? [])];
    const searchParams = new URLSearchParams();
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) searchParams.set(key, String(value));
    }
    this.#active++;
    await this.#semaphore.acquire();
    this.#inFlight++;
    this.stats.peakInFlight = Math.max(this.stats.peakInFlight, this.#inFlight);
    this.stats.requests++;
    noteRequest();
    this.stats.byMethod[method] = (this.stats.byMethod[method] ?? 0) + 1;
    try {
      const raw = await this.#send(method, path, searchParams, options, accept);
      if (!accept.includes(raw.status)) {
        throw errorFromResponse(method, path, raw.status, raw.body, {
          statusMessage: STATUS_CODES[raw.status],
          secrets,
          cut: raw.cut,
        });
      }
      return raw;
    } catch (err) {
      if (err instanceof ManagementError || err instanceof WriteRefusedError) throw err;
      // A fresh error from what failed (a code and a message, credentials redacted).
      throw errorFromNoResponse(method, path, err as { code?: string; message?: string }, secrets);
    } finally {
      this.#inFlight--;
      this.#active--;
      this.#semaphore.release();
      this.#closeIfIdle();
    }
  }

  /** One attempt, and a second one at once for an idempotent request that hit a stale connection. */
  async #send(
    method: HttpMethod,
    path: string,
    searchParams: URLSearchParams,
    options: RequestOptions,
    accept: number[],
  ) {
    const writeSignal = method === 'GET' ? undefined : this.#writeSignal();
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const query = searchParams.toString();
    const url = `${this.#endpoint}${path}${query ? `?${query}` : ''}`;
    const attempt = async (): Promise<RawResponse> => {
      // Checked again here: the call may have waited for a slot while leadership was lost.
      this.#fence(method, path);
      if (method !== 'GET') this.#log?.debug({ method, path }, 'broker write');
      const deadline = new Deadline(timeoutMs);
      const signal = writeSignal ? AbortSignal.any([deadline.signal, writeSignal]) : deadline.signal;
      const headers: Record<string, string> = { authorization: this.#auth };
      // No `accept: application/json`: the 3.10.8 limits endpoints answer it with 406.
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      try {
        const res = await request(url, {
          method,
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          dispatcher: this.#agent,
          signal,
        });
        const accepted = accept.includes(res.statusCode);
        const limit = accepted ? this.#maxAnswerBytes : MAX_ERROR_ANSWER_BYTES;
        let read: { bytes: Buffer; cut: boolean };
        try {
          read = await readAtMost(res.body, limit);
        } catch (err) {
          throw new ResponseStarted(err);
        }
        if (read.cut && accepted)
          throw new ManagementError({
            method,
            path,
            status: res.statusCode,
            reason: `answer larger than ${limit} bytes, not read (maxAnswerBytes)`,
            category: 'ServerError',
          });
        return new RawResponse(res.statusCode, read.bytes, read.cut);
      } catch (err) {
        if (writeSignal?.aborted) throw new WriteRefusedError(method, path);
        if (deadline.expired) {
          throw Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
        }
        const known = this.#socketError;
        if ((err as { code?: string }).code === 'UND_ERR_SOCKET' && known && Date.now() - known.at < 2000)
          throw new ResponseStarted(known.err); // the broker's refusal, not a stale connection
        throw err;
      } finally {
        deadline.clear();
      }
    };
    try {
      return await attempt();
    } catch (err) {
      const unsent = wasNeverSent(err);
      if (!unsent && (!IDEMPOTENT.has(method) || !isStaleConnectionError(err))) throw err;
      this.stats.retries++;
      this.#log?.debug(
        { method, path, code: (err as { code?: string }).code },
        'stale connection, sending again',
      );
      return await attempt();
    }
  }

  #fence(method: HttpMethod, path: string): void {
    if (method !== 'GET' && !this.#canWrite()) throw new WriteRefusedError(method, path);
  }
}
