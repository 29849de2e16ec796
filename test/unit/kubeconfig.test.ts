import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { poolConnections } from '../../src/runtime/kubeconfig.ts';

const config = (server: string) => `
apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: ${server}, insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`;

async function dispatcherOf(kc: k8s.KubeConfig): Promise<unknown> {
  const ctx = new k8s.RequestContext('https://127.0.0.1:6443/api', k8s.HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  return ctx.getDispatcher();
}

describe('poolConnections', () => {
  it('reuses one dispatcher across requests (client-node builds one per request)', async () => {
    const plain = new k8s.KubeConfig();
    plain.loadFromString(config('https://127.0.0.1:6443'));
    expect(await dispatcherOf(plain)).not.toBe(await dispatcherOf(plain));

    const pooled = poolConnections(new k8s.KubeConfig());
    pooled.loadFromString(config('https://127.0.0.1:6443'));
    const first = await dispatcherOf(pooled);
    expect(first).toBeDefined();
    expect(await dispatcherOf(pooled)).toBe(first);
  });

  it('keeps separate dispatchers for separate clusters', async () => {
    const kc = poolConnections(new k8s.KubeConfig());
    kc.loadFromString(config('https://127.0.0.1:6443'));
    const a = await dispatcherOf(kc);
    kc.loadFromString(config('https://127.0.0.2:6443'));
    expect(await dispatcherOf(kc)).not.toBe(a);
  });
});
