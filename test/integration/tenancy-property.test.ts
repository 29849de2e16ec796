import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerResource } from '../../src/kinds/brokers.ts';
import { PRIVILEGED_TAGS, refusal } from '../../src/kinds/tenancy.ts';
import { brokerTags, ManagementClient } from '../../src/rabbitmq/index.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';

// The guard reads names as the broker will: what it admits, the real broker reads the same way.
// Generated tag lists and vhost names go through warren's own client to the broker, and what the
// broker reports back is compared with what the guard checked.
let ctx: TestContext;
let client: ManagementClient;
const broker = {
  apiVersion: 'warren.dev/v1alpha1',
  kind: 'RabbitBroker',
  metadata: { name: 'shared', namespace: 'platform', uid: 'u' },
  spec: { endpoint: 'http://r:15672', credentialsSecretRef: { name: 'a' }, allowedNamespaces: ['*'] },
} as BrokerResource;
const user = () => `prop-${ctx.namespace}`;

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  client = new ManagementClient({
    endpoint: ctx.env.managementUrl,
    username: ctx.env.adminUser,
    password: ctx.env.adminPassword,
  });
});

afterAll(async () => {
  await ctx?.broker.del(`/users/${enc(user())}`);
  await client?.close();
  await ctx?.cleanup();
});

describe('the guard and the broker read names alike', () => {
  it('tags: whatever the guard admits carries no privileged tag in the broker, and the broker holds exactly the tags the guard checked', async () => {
    // Mostly harmless tags, so that many lists are admitted; the rest tries every way around the guard.
    const piece = fc.oneof(
      { arbitrary: fc.constantFrom('management', 'jack_tag', 'x y', 'Tag-1'), weight: 4 },
      { arbitrary: fc.constantFrom('administrator', 'Monitoring', 'policymaker'), weight: 1 },
    );
    const edge = fc.oneof(
      { arbitrary: fc.constant(''), weight: 4 },
      { arbitrary: fc.constantFrom(',', ' ', ' , ', '\t', '\u00a0', '\u200e', '\u0085'), weight: 1 },
    );
    const tag = fc.tuple(edge, piece, edge).map((t) => t.join(''));
    let admitted = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(tag, { minLength: 1, maxLength: 3 }), async (tags) => {
        if (refusal(broker, 'team', { user: { name: user(), tags } }) !== undefined) return;
        admitted++;
        await client.putUser(user(), { passwordless: true, tags });
        const held: string[] = (await ctx.broker.get(`/users/${enc(user())}`)).body.tags;
        // The broker keeps a repeated tag twice, as it split it.
        expect([...held].sort()).toEqual(brokerTags(tags).sort());
        for (const t of held) expect(PRIVILEGED_TAGS).not.toContain(t.toLowerCase());
      }),
      { numRuns: 60, seed: 24 },
    );
    // The property was tried on admitted lists, not only on refused ones.
    expect(admitted).toBeGreaterThan(5);
  });

  it('vhost names: the vhost the broker makes is the one the guard checked, whatever the characters', async () => {
    const name = fc
      .string({
        unit: fc.constantFrom('a', 'Z', '/', '%', '2', 'F', ' ', '.', '#', '?', '+', 'é', '|'),
        minLength: 1,
        maxLength: 8,
      })
      .filter((n) => n !== '.' && n !== '..');
    await fc.assert(
      fc.asyncProperty(name, async (n) => {
        const vhost = `${ctx.vhost}-${n}`;
        try {
          await client.putVhost(vhost, { description: '', tags: [] });
          const names: string[] = (await ctx.broker.get('/vhosts?columns=name')).body.map((v: any) => v.name);
          expect(names).toContain(vhost);
        } finally {
          await client.deleteVhost(vhost);
        }
        expect((await ctx.broker.get(`/vhosts/${enc(vhost)}`)).status).toBe(404);
      }),
      { numRuns: 15, seed: 24 },
    );
  });
});
