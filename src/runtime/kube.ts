import { GROUP, VERSION } from '../api/common.ts';
import { KubeClient, KubeError, type KubeClientOptions, type Query } from './kubeclient.ts';
import type { KubeConfig } from './kubeconfig.ts';

export { KubeError };
export type KubeOptions = KubeClientOptions;

/** The Status of an API error answer, or undefined for other errors. */
export function apiStatus(err: unknown): { code: number; reason?: string; message?: string } | undefined {
  if (!(err instanceof KubeError)) return undefined;
  return { code: err.code, reason: err.reason, message: err.status?.message };
}

/** A one-line description of any error, without response bodies beyond the Status message. */
export function describeError(err: unknown): string {
  const st = apiStatus(err);
  if (st) return `${st.code}${st.reason ? ` ${st.reason}` : ''}${st.message ? `: ${st.message}` : ''}`;
  return err instanceof Error ? err.message : String(err);
}

export const isNotFound = (err: unknown) => apiStatus(err)?.code === 404;
export const isConflict = (err: unknown) => apiStatus(err)?.code === 409;

export interface ObjectRef {
  plural: string;
  namespace: string;
  name: string;
}

/** The path of a warren resource, or of its collection. */
export const customPath = (plural: string, namespace?: string, name?: string) =>
  `/apis/${GROUP}/${VERSION}${namespace ? `/namespaces/${namespace}` : ''}/${plural}${name ? `/${name}` : ''}`;

/** The path of a core (v1) object, or of its collection. */
export const corePath = (resource: string, namespace?: string, name?: string) =>
  `/api/v1${namespace ? `/namespaces/${namespace}` : ''}/${resource}${name ? `/${name}` : ''}`;

/** MicroTime as the API wants it: RFC 3339 with six fractional digits. */
export const microTime = (d = new Date()) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export interface KubeList<T = any> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** The calls warren makes on the API server; every write through it is fenced (see KubeOptions). */
export class Kube {
  readonly client: KubeClient;

  constructor(config: KubeConfig, opts: KubeOptions = {}) {
    this.client = new KubeClient(config, opts);
  }

  get<T = any>(path: string, query?: Query): Promise<T> {
    return this.client.request<T>('GET', path, { query });
  }

  list<T = any>(path: string, query?: Query): Promise<KubeList<T>> {
    return this.client.request<KubeList<T>>('GET', path, { query });
  }

  /**
   * A whole collection in pages of `pageSize` (limit/continue, as client-go's reflector lists): no
   * single answer, and no single request's time limit, grows with the number of objects. A
   * continue token that expired midway (410) starts the list again, at most `restarts` times.
   */
  async listPaged<T = any>(
    path: string,
    o: {
      pageSize?: number;
      pageTimeoutMs?: number;
      maxPages?: number;
      restarts?: number;
      /** Applied to each item as its page arrives (drop what is never read before the next page). */
      each?: (item: T) => void;
    } = {},
  ): Promise<KubeList<T>> {
    const limit = o.pageSize ?? 500;
    const maxPages = o.maxPages ?? 10_000;
    for (let attempt = 0; ; attempt++) {
      const items: T[] = [];
      let token: string | undefined;
      let rv: string | undefined;
      try {
        for (let page = 0; ; page++) {
          if (page >= maxPages) throw new Error(`${path}: more than ${maxPages} pages of ${limit}`);
          const query: Query = token ? { limit, continue: token } : { limit };
          const l = await this.client.request<KubeList<T>>('GET', path, {
            query,
            timeoutMs: o.pageTimeoutMs,
          });
          for (const item of l.items ?? []) {
            o.each?.(item);
            items.push(item);
          }
          rv = l.metadata?.resourceVersion ?? rv;
          token = l.metadata?.continue || undefined;
          if (!token) return { metadata: { resourceVersion: rv }, items };
        }
      } catch (err) {
        if (!(token && apiStatus(err)?.code === 410 && attempt < (o.restarts ?? 3))) throw err;
      }
    }
  }

  create<T = any>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.client.request<T>('POST', path, { body, query });
  }

  replace<T = any>(path: string, body: unknown): Promise<T> {
    return this.client.request<T>('PUT', path, { body });
  }

  patch<T = any>(path: string, body: unknown, type: 'merge-patch' | 'json-patch'): Promise<T> {
    return this.client.request<T>('PATCH', path, { body, contentType: type });
  }

  patchStatus(ref: ObjectRef, status: unknown): Promise<unknown> {
    return this.patch(`${customPath(ref.plural, ref.namespace, ref.name)}/status`, { status }, 'merge-patch');
  }

  jsonPatch(ref: ObjectRef, ops: unknown[]): Promise<unknown> {
    return this.patch(customPath(ref.plural, ref.namespace, ref.name), ops, 'json-patch');
  }
}

/**
 * Whether a namespace is terminating (or gone), without reading the Namespace: a dry-run create of
 * an Event there, which warren may create in every namespace it watches. The API server's
 * namespace lifecycle admission refuses new content in a terminating namespace (403, cause
 * NamespaceTerminating) even on a dry run; nothing is stored.
 */
export async function namespaceRefusesContent(kube: Kube, namespace: string): Promise<boolean> {
  try {
    await kube.create(
      `/apis/events.k8s.io/v1/namespaces/${namespace}/events`,
      {
        metadata: { generateName: 'warren-probe-', namespace },
        eventTime: microTime(),
        reason: 'Probe',
        action: 'Probe',
        type: 'Normal',
        reportingController: 'warren.dev/operator',
        reportingInstance: 'probe',
        note: 'dry run: is the namespace terminating?',
      },
      { dryRun: 'All' },
    );
    return false;
  } catch (err) {
    const st = apiStatus(err);
    if (st?.code === 404) return true;
    const causes = err instanceof KubeError ? (err.status?.details?.causes ?? []) : [];
    return (
      causes.some((c) => c.type === 'NamespaceTerminating') || /is being terminated/.test(st?.message ?? '')
    );
  }
}
