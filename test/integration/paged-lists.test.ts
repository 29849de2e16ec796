import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corePath, Kube } from '../../src/runtime/kube.ts';
import { KubeConfig } from '../../src/runtime/kubeconfig.ts';
import { testContext, type TestContext } from '../support/context.ts';

// Lists come in pages from the real API server: no answer grows with a tenant's object count.
let ctx: TestContext;
const N = 230;

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  for (let i = 0; i < N; i += 23)
    await Promise.all(
      Array.from({ length: 23 }, (_, j) =>
        ctx.core.createNamespacedConfigMap({
          namespace: ctx.namespace,
          body: { metadata: { name: `cm-${i + j}` }, data: { n: String(i + j) } },
        }),
      ),
    );
}, 120_000);
afterAll(async () => ctx?.cleanup());

describe('paged lists', () => {
  it('read every object in pages of the size asked, each page one request', async () => {
    const pages: string[] = [];
    const kube = new Kube(KubeConfig.fromFile(ctx.env.kubeconfigPath), {
      onRequest: (verb) => pages.push(verb),
    });
    const list = await kube.listPaged<{ metadata: { name: string } }>(corePath('configmaps', ctx.namespace), {
      pageSize: 50,
    });
    const names = new Set(list.items.map((i) => i.metadata.name));
    for (let i = 0; i < N; i++) expect(names.has(`cm-${i}`)).toBe(true);
    // kube-root-ca.crt is there too, so N + 1 objects: five pages of 50.
    expect(list.items.length).toBe(N + 1);
    expect(pages.length).toBe(Math.ceil((N + 1) / 50));
    expect(list.metadata?.resourceVersion).toMatch(/^\d+$/);
  });
});
