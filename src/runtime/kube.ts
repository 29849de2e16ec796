import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { GROUP, VERSION } from '../api/common.ts';

export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
export const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

/** The parsed Status body of an ApiException, or undefined for other errors. */
export function apiStatus(err: unknown): { code: number; reason?: string; message?: string } | undefined {
  if (!(err instanceof k8s.ApiException)) return undefined;
  try {
    const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return { code: err.code, reason: body?.reason, message: body?.message };
  } catch {
    return { code: err.code };
  }
}

/** A one-line description of any error, without response headers or bodies beyond the Status message. */
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

export interface KubeOptions {
  /** Asked before every request that is not a read; false refuses it (leader fencing). */
  canWrite?: () => boolean;
  /** Given to every write: when it aborts (leadership ended) the write in flight is cut off. */
  writeSignal?: () => AbortSignal | undefined;
  /** Each write (method and path, never the body) is logged at debug level. */
  log?: Logger;
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
const pass = <T>(v: T) => new k8s.Observable(Promise.resolve(v));

/**
 * A middleware that refuses writes while canWrite() is false and logs the writes it lets through.
 * It runs last before the request is sent, so it covers every call on the client: status and
 * finalizer patches, events, the Secrets warren generates.
 */
export function fenceMiddleware(opts: KubeOptions): k8s.ObservableMiddleware {
  return {
    pre: (ctx) => {
      const method = String(ctx.getHttpMethod());
      if (READS.has(method)) return pass(ctx);
      const path = new URL(ctx.getUrl()).pathname;
      if (opts.canWrite && !opts.canWrite()) {
        return new k8s.Observable(
          Promise.reject(new Error(`not the leader: write refused (${method} ${path})`)),
        );
      }
      const signal = opts.writeSignal?.();
      if (signal) ctx.setSignal(signal);
      opts.log?.debug({ method, path }, 'kubernetes write');
      return pass(ctx);
    },
    post: pass,
  };
}

/** kc.makeApiClient with the fence added to the client's middleware. */
function fencedClient<T>(
  kc: k8s.KubeConfig,
  api: new (config: k8s.Configuration) => T,
  opts: KubeOptions,
): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('No active cluster!');
  return new api(
    k8s.createConfiguration({
      baseServer: new k8s.ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      middleware: [k8s.setHeaderMiddleware('User-Agent', 'warren'), fenceMiddleware(opts)],
    }),
  );
}

/** Thin calls on warren's own kinds; every write through it is fenced (see KubeOptions). */
export class Kube {
  readonly custom: k8s.CustomObjectsApi;
  readonly core: k8s.CoreV1Api;
  readonly events: k8s.EventsV1Api;
  readonly kc: k8s.KubeConfig;

  constructor(kc: k8s.KubeConfig, opts: KubeOptions = {}) {
    this.kc = kc;
    this.custom = fencedClient(kc, k8s.CustomObjectsApi, opts);
    this.core = fencedClient(kc, k8s.CoreV1Api, opts);
    this.events = fencedClient(kc, k8s.EventsV1Api, opts);
  }

  patchStatus(ref: ObjectRef, status: unknown): Promise<unknown> {
    return this.custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, ...ref, body: { status } },
      mergePatch,
    );
  }

  jsonPatch(ref: ObjectRef, ops: unknown[]): Promise<unknown> {
    return this.custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, ...ref, body: ops },
      jsonPatch,
    );
  }

  list(plural: string, namespace?: string): Promise<k8s.KubernetesListObject<any>> {
    return (
      namespace
        ? this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace })
        : this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })
    ) as Promise<k8s.KubernetesListObject<any>>;
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
    await kube.events.createNamespacedEvent({
      namespace,
      dryRun: 'All',
      body: {
        metadata: { generateName: 'warren-probe-', namespace },
        eventTime: new k8s.V1MicroTime(),
        reason: 'Probe',
        action: 'Probe',
        type: 'Normal',
        reportingController: 'warren.dev/operator',
        reportingInstance: 'probe',
        note: 'dry run: is the namespace terminating?',
      },
    });
    return false;
  } catch (err) {
    const st = apiStatus(err);
    if (st?.code === 404) return true;
    let causes: Array<{ reason?: string; type?: string }> = [];
    try {
      const body = (err as k8s.ApiException<unknown>).body;
      causes = (typeof body === 'string' ? JSON.parse(body) : (body as any))?.details?.causes ?? [];
    } catch {
      // not a Status
    }
    return (
      causes.some((c) => c.type === 'NamespaceTerminating') || /is being terminated/.test(st?.message ?? '')
    );
  }
}
