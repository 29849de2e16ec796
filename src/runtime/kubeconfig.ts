import type * as k8s from '@kubernetes/client-node';
import { createHash } from 'node:crypto';

type Dispatcher = unknown;
type CreateDispatcher = (cluster: k8s.Cluster | null, agentOptions: Record<string, unknown>) => Dispatcher;

/**
 * @kubernetes/client-node 2.0.1 builds a new undici Agent for every request, so nothing is kept
 * alive: each call pays a TCP and TLS handshake (measured: 144 GETs/s against 639/s with a pooled
 * agent, one client). This makes a KubeConfig reuse one dispatcher per distinct TLS setting.
 */
export function poolConnections(kc: k8s.KubeConfig): k8s.KubeConfig {
  const target = kc as unknown as { createDispatcher: CreateDispatcher; __pooled?: boolean };
  if (target.__pooled) return kc;
  const original = target.createDispatcher.bind(kc);
  const pool = new Map<string, Dispatcher>();
  target.createDispatcher = (cluster, agentOptions) => {
    const h = createHash('sha256');
    h.update(String(cluster?.server));
    for (const k of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername']) {
      h.update(`|${k}=`);
      const v = agentOptions[k];
      if (v !== undefined) h.update(Buffer.isBuffer(v) ? v : String(v));
    }
    const key = h.digest('hex');
    if (!pool.has(key)) pool.set(key, original(cluster, agentOptions));
    return pool.get(key);
  };
  target.__pooled = true;
  return kc;
}
