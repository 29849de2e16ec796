import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, type Dispatcher } from 'undici';
import { parse } from 'yaml';

// Where the cluster is and how to authenticate to it: a kubeconfig file or the pod's service
// account. warren talks to the API server over undici itself: @kubernetes/client-node's config
// module loads the whole generated API (about 80 MB of RSS at start, measured), for a handful of
// calls.

const SA = '/var/run/secrets/kubernetes.io/serviceaccount';
const TOKEN_FILE_TTL_MS = 60_000; // projected tokens rotate: read the file again after a minute

interface ExecConfig {
  command: string;
  args?: string[];
  env?: Array<{ name: string; value: string }>;
}

export interface KubeConfigData {
  server: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecureSkipTLSVerify?: boolean;
  tlsServerName?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  exec?: ExecConfig;
  /** The context's namespace, if any. */
  namespace?: string;
  /** Where it was read from, for messages. */
  source: string;
}

/** A cluster address with its credentials; one keep-alive HTTP/2 connection pool per credential. */
export class KubeConfig {
  readonly data: KubeConfigData;
  #dispatcher?: { key: string; agent: Dispatcher };
  #tokenFile?: { value: string; at: number };
  #exec?: { token?: string; cert?: string; key?: string; expires: number };

  constructor(data: KubeConfigData) {
    this.data = data;
  }

  get server(): string {
    return this.data.server;
  }

  /**
   * The kubeconfig at `path`, else as kubectl looks: $KUBECONFIG (its first file), ~/.kube/config,
   * then the pod's service account. Throws when none exists, naming where it looked.
   */
  static load(path?: string, env: NodeJS.ProcessEnv = process.env): KubeConfig {
    if (path) return KubeConfig.fromFile(path);
    const fromEnv = env.KUBECONFIG?.split(':').find((p) => p && existsSync(p));
    if (env.KUBECONFIG && !fromEnv) throw new Error(`KUBECONFIG names no existing file (${env.KUBECONFIG})`);
    if (fromEnv) return KubeConfig.fromFile(fromEnv);
    const home = join(env.HOME ?? homedir(), '.kube', 'config');
    if (existsSync(home)) return KubeConfig.fromFile(home);
    if (env.KUBERNETES_SERVICE_HOST && existsSync(join(SA, 'token'))) return KubeConfig.inCluster(env);
    throw new Error(
      `no cluster found: KUBECONFIG is not set, ${home} does not exist, and this is not a pod with a service account (${SA})`,
    );
  }

  static inCluster(env: NodeJS.ProcessEnv = process.env): KubeConfig {
    const host = env.KUBERNETES_SERVICE_HOST!;
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    return new KubeConfig({
      server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
      ca: readFileSync(join(SA, 'ca.crt'), 'utf8'),
      tokenFile: join(SA, 'token'),
      namespace: existsSync(join(SA, 'namespace'))
        ? readFileSync(join(SA, 'namespace'), 'utf8').trim()
        : undefined,
      source: 'the pod service account',
    });
  }

  static fromFile(path: string): KubeConfig {
    const doc = parse(readFileSync(path, 'utf8')) ?? {};
    const named = <T>(
      list: Array<{ name: string } & Record<string, T>> | undefined,
      name: string,
      field: string,
    ) => list?.find((x) => x.name === name)?.[field] as T | undefined;
    const contextName: string | undefined = doc['current-context'];
    const context = contextName
      ? named<any>(doc.contexts, contextName, 'context')
      : doc.contexts?.[0]?.context;
    if (!context) throw new Error(`${path}: no current context`);
    const cluster = named<any>(doc.clusters, context.cluster, 'cluster');
    if (!cluster?.server) throw new Error(`${path}: context names no cluster with a server`);
    const user = named<any>(doc.users, context.user, 'user') ?? {};
    const base = dirname(path);
    const file = (p: string | undefined) =>
      p ? readFileSync(isAbsolute(p) ? p : join(base, p), 'utf8') : undefined;
    const data = (d: string | undefined) => (d ? Buffer.from(d, 'base64').toString('utf8') : undefined);
    if (user['auth-provider'])
      throw new Error(`${path}: auth-provider users are not supported; use an exec credential plugin`);
    return new KubeConfig({
      server: String(cluster.server).replace(/\/+$/, ''),
      ca: data(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']),
      insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
      tlsServerName: cluster['tls-server-name'],
      cert: data(user['client-certificate-data']) ?? file(user['client-certificate']),
      key: data(user['client-key-data']) ?? file(user['client-key']),
      token: user.token,
      tokenFile: user.tokenFile
        ? isAbsolute(user.tokenFile)
          ? user.tokenFile
          : join(base, user.tokenFile)
        : undefined,
      username: user.username,
      password: user.password,
      exec: user.exec,
      namespace: context.namespace,
      source: path,
    });
  }

  /** The Authorization header and the dispatcher (TLS, keep-alive) for the next request. */
  async auth(): Promise<{ authorization?: string; dispatcher: Dispatcher }> {
    const d = this.data;
    let token = d.token;
    let cert = d.cert;
    let key = d.key;
    if (d.tokenFile) token = this.#readTokenFile(d.tokenFile);
    if (d.exec) {
      const e = await this.#execCredential(d.exec);
      token = e.token ?? token;
      cert = e.cert ?? cert;
      key = e.key ?? key;
    }
    const authorization = token
      ? `Bearer ${token}`
      : d.username !== undefined
        ? `Basic ${Buffer.from(`${d.username}:${d.password ?? ''}`).toString('base64')}`
        : undefined;
    return { authorization, dispatcher: this.#agent(cert, key) };
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.#dispatcher?.agent.close();
    this.#dispatcher = undefined;
  }

  #agent(cert: string | undefined, key: string | undefined): Dispatcher {
    const id = `${cert ?? ''}|${key ?? ''}`;
    if (this.#dispatcher?.key === id) return this.#dispatcher.agent;
    const old = this.#dispatcher?.agent;
    const d = this.data;
    const agent = new Agent({
      // One HTTP/2 connection carries every watch and request, as kubectl's client does.
      allowH2: true,
      keepAliveTimeout: 60_000,
      connect: {
        ca: d.ca,
        cert,
        key,
        rejectUnauthorized: !d.insecureSkipTLSVerify,
        servername: d.tlsServerName,
      },
    });
    this.#dispatcher = { key: id, agent };
    void old?.close();
    return agent;
  }

  #readTokenFile(path: string): string {
    const cached = this.#tokenFile;
    if (cached && Date.now() - cached.at < TOKEN_FILE_TTL_MS) return cached.value;
    const value = readFileSync(path, 'utf8').trim();
    this.#tokenFile = { value, at: Date.now() };
    return value;
  }

  async #execCredential(exec: ExecConfig): Promise<{ token?: string; cert?: string; key?: string }> {
    const cached = this.#exec;
    if (cached && Date.now() < cached.expires) return cached;
    const env = { ...process.env };
    for (const e of exec.env ?? []) env[e.name] = e.value;
    const { stdout } = await promisify(execFile)(exec.command, exec.args ?? [], { env, timeout: 60_000 });
    const status = JSON.parse(stdout)?.status ?? {};
    const expires = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) - 10_000 : Infinity;
    this.#exec = {
      token: status.token,
      cert: status.clientCertificateData,
      key: status.clientKeyData,
      // Without an expiry the plugin is asked again after a while anyway.
      expires: Number.isFinite(expires) ? expires : Date.now() + 5 * 60_000,
    };
    return this.#exec;
  }
}
