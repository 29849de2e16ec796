import type { Watcher } from './informer.ts';
import type { Kube } from './kube.ts';

// The API server answers with object metadata only (no Secret data) when asked for these.
const AS_OBJECT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
const AS_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

export interface PartialObjectMetadata {
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    deletionTimestamp?: string | Date;
    [k: string]: unknown;
  };
}

/** A metadata-only LIST (e.g. with limit=1, to learn the collection's current resourceVersion). */
export function listMetadata(
  kube: Kube,
  path: string,
  params: Record<string, string | number | boolean | undefined>,
  timeoutMs = 30_000,
): Promise<{ metadata?: { resourceVersion?: string }; items?: PartialObjectMetadata[] }> {
  return kube.client.request('GET', path, { query: params, accept: AS_LIST, timeoutMs });
}

/**
 * A watch of object metadata only. The server closes the stream every `serverTimeoutSeconds`; no
 * byte for `inactivityMs` (a half-open connection) ends it with a TimeoutError.
 */
export class MetadataWatcher implements Watcher {
  private readonly kube: Kube;
  private readonly serverTimeoutSeconds: number;
  private readonly inactivityMs: number;

  constructor(kube: Kube, opts: { serverTimeoutSeconds?: number; inactivityMs?: number } = {}) {
    this.kube = kube;
    this.serverTimeoutSeconds = opts.serverTimeoutSeconds ?? 60;
    this.inactivityMs = opts.inactivityMs ?? 90_000;
  }

  watch(
    path: string,
    params: Record<string, unknown>,
    onEvent: (phase: string, obj: any) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    return this.kube.client.watch(path, params as Record<string, string>, onEvent, done, {
      accept: AS_OBJECT,
      serverTimeoutSeconds: this.serverTimeoutSeconds,
      inactivityMs: this.inactivityMs,
    });
  }
}
