import * as k8s from '@kubernetes/client-node';
import { request } from 'undici';
import type { Watcher } from './informer.ts';

// The API server answers with object metadata only (no Secret data) when asked for these.
const AS_OBJECT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
const AS_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

export interface PartialObjectMetadata {
  metadata?: k8s.V1ObjectMeta;
}

/** URL, auth headers and TLS dispatcher of the kubeconfig's current cluster, for a raw request. */
async function prepare(kc: k8s.KubeConfig, path: string, params: Record<string, unknown>, accept: string) {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the kubeconfig');
  const url = new URL(cluster.server + path);
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  const ctx = new k8s.RequestContext(url.toString(), k8s.HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  ctx.setHeaderParam('Accept', accept);
  return { url, headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() as any };
}

/** An HTTP error with the status code and the Status message (never a body beyond that). */
function httpError(statusCode: number, body: string): Error {
  let message = '';
  try {
    message = JSON.parse(body)?.message ?? '';
  } catch {
    // not a Status
  }
  return Object.assign(new Error(`HTTP ${statusCode}${message ? `: ${message}` : ''}`), { statusCode });
}

/** A metadata-only LIST (e.g. with limit=1, to learn the collection's current resourceVersion). */
export async function listMetadata(
  kc: k8s.KubeConfig,
  path: string,
  params: Record<string, unknown>,
  timeoutMs = 30_000,
): Promise<{ metadata?: { resourceVersion?: string }; items?: PartialObjectMetadata[] }> {
  const { url, headers, dispatcher } = await prepare(kc, path, params, AS_LIST);
  const res = await request(url, {
    method: 'GET',
    headers,
    dispatcher,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw httpError(res.statusCode, text);
  return JSON.parse(text);
}

/**
 * A watch of object metadata only, with the same contract as client-node's Watch (which cannot
 * send an Accept header): resolves once the server answered (or done() was called), calls done()
 * exactly once. The server closes the stream every `serverTimeoutSeconds`; no byte for
 * `inactivityMs` (a half-open connection) ends it with a TimeoutError.
 */
export class MetadataWatcher implements Watcher {
  private readonly kc: k8s.KubeConfig;
  private readonly serverTimeoutSeconds: number;
  private readonly inactivityMs: number;

  constructor(kc: k8s.KubeConfig, opts: { serverTimeoutSeconds?: number; inactivityMs?: number } = {}) {
    this.kc = kc;
    this.serverTimeoutSeconds = opts.serverTimeoutSeconds ?? 60;
    this.inactivityMs = opts.inactivityMs ?? 90_000;
  }

  async watch(
    path: string,
    params: Record<string, unknown>,
    onEvent: (phase: string, obj: any) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const ac = new AbortController();
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
      }, this.inactivityMs);
      timer.unref();
    };
    ac.signal.addEventListener('abort', () => finish(ac.signal.reason ?? null));
    try {
      arm();
      const { url, headers, dispatcher } = await prepare(
        this.kc,
        path,
        { ...params, watch: 'true', timeoutSeconds: this.serverTimeoutSeconds },
        AS_OBJECT,
      );
      const res = await request(url, { method: 'GET', headers, dispatcher, signal: ac.signal });
      if (res.statusCode !== 200) {
        throw httpError(res.statusCode, await res.body.text());
      }
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
          let ev: { type?: string; object?: unknown };
          try {
            ev = JSON.parse(line);
          } catch {
            continue;
          }
          if (ev.type) onEvent(ev.type, ev.object);
          if (finished) return;
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
}
