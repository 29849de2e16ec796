import { describe, expect, it } from 'vitest';
import { BrokerRegistry, type BrokerResource } from '../../src/kinds/brokers.ts';
import { Blocked, depKeys } from '../../src/kinds/types.ts';
import type { SecretCache } from '../../src/runtime/secrets.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const broker = (namespace: string, allowedNamespaces?: string[]): BrokerResource => ({
  apiVersion: 'warren.dev/v1alpha1',
  kind: 'RabbitBroker',
  metadata: { name: 'shared', namespace, uid: 'u1' },
  spec: {
    endpoint: 'http://rabbit:15672',
    credentialsSecretRef: { name: 'admin' },
    allowedNamespaces,
    surveyInterval: '30s',
    requestTimeout: '30s',
    maxConcurrentRequests: 8,
  },
});

function registry(b: BrokerResource | undefined, secret: Record<string, string> | undefined) {
  const secrets = {
    get: async () =>
      secret && {
        metadata: { resourceVersion: '1' },
        data: Object.fromEntries(Object.entries(secret).map(([k, v]) => [k, b64(v)])),
      },
  } as unknown as SecretCache;
  return new BrokerRegistry({ get: () => b, secrets });
}

async function reason(p: Promise<unknown>) {
  const err = await p.then(
    () => undefined,
    (e) => e,
  );
  return err instanceof Blocked ? err.reason : err;
}

const creds = { username: 'admin', password: 'pw' };

describe('BrokerRegistry.resolve', () => {
  it('admits the broker own namespace and builds one client per broker', async () => {
    const r = registry(broker('infra'), creds);
    const deps = new Set<string>();
    const a = await r.resolve({ name: 'shared' }, 'infra', deps);
    const b = await r.resolve({ name: 'shared' }, 'infra', new Set());
    expect(a.client).toBe(b.client);
    expect([...deps].sort()).toEqual(
      [depKeys.broker('infra/shared'), depKeys.secret('infra', 'admin')].sort(),
    );
  });

  it('refuses another namespace unless allowedNamespaces lists it or *', async () => {
    expect(
      await reason(
        registry(broker('infra'), creds).resolve({ name: 'shared', namespace: 'infra' }, 'team-a', new Set()),
      ),
    ).toBe('NotAllowed');
    expect(
      await reason(
        registry(broker('infra', ['team-b']), creds).resolve(
          { name: 'shared', namespace: 'infra' },
          'team-a',
          new Set(),
        ),
      ),
    ).toBe('NotAllowed');
    const ok = await registry(broker('infra', ['team-a']), creds).resolve(
      { name: 'shared', namespace: 'infra' },
      'team-a',
      new Set(),
    );
    expect(ok.key).toBe('infra/shared');
    const star = await registry(broker('infra', ['*']), creds).resolve(
      { name: 'shared', namespace: 'infra' },
      'team-z',
      new Set(),
    );
    expect(star.key).toBe('infra/shared');
  });

  it('reports a missing or deleting broker, a missing Secret and an incomplete one', async () => {
    expect(await reason(registry(undefined, creds).resolve({ name: 'shared' }, 'infra', new Set()))).toBe(
      'BrokerNotFound',
    );
    const deleting = broker('infra');
    deleting.metadata.deletionTimestamp = '2026-01-01T00:00:00Z';
    expect(await reason(registry(deleting, creds).resolve({ name: 'shared' }, 'infra', new Set()))).toBe(
      'BrokerNotFound',
    );
    expect(
      await reason(registry(broker('infra'), undefined).resolve({ name: 'shared' }, 'infra', new Set())),
    ).toBe('SecretNotFound');
    expect(
      await reason(
        registry(broker('infra'), { username: 'x' }).resolve({ name: 'shared' }, 'infra', new Set()),
      ),
    ).toBe('InvalidSecret');
  });

  it('never puts the password in its messages', async () => {
    const err = await registry(broker('infra'), { password: 'hunter2' })
      .resolve({ name: 'shared' }, 'infra', new Set())
      .catch((e) => e);
    expect(String(err.message)).not.toContain('hunter2');
  });
});
