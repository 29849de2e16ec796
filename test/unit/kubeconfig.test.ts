import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KubeConfig } from '../../src/runtime/kubeconfig.ts';
import { KubeClient, KubeError } from '../../src/runtime/kubeclient.ts';

const dir = mkdtempSync(join(tmpdir(), 'warren-kc-'));
const kubeconfig = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}) => {
  const path = join(dir, `kc-${Math.random().toString(36).slice(2)}`);
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'b',
      clusters: [
        { name: 'other', cluster: { server: 'https://wrong:1' } },
        { name: 'c', cluster: { server: 'https://api.example:6443/', ...cluster } },
      ],
      users: [{ name: 'u', user }],
      contexts: [
        { name: 'a', context: { cluster: 'other', user: 'u' } },
        { name: 'b', context: { cluster: 'c', user: 'u', namespace: 'team' } },
      ],
    }),
  );
  return path;
};

describe('KubeConfig', () => {
  it('reads the current context: its cluster, user and namespace, files relative to the kubeconfig', async () => {
    writeFileSync(join(dir, 'ca.crt'), 'CA PEM');
    const kc = KubeConfig.fromFile(
      kubeconfig({ token: 'secret-token' }, { 'certificate-authority': 'ca.crt' }),
    );
    expect(kc.server).toBe('https://api.example:6443');
    expect(kc.data).toMatchObject({ ca: 'CA PEM', namespace: 'team' });
    expect((await kc.auth()).authorization).toBe('Bearer secret-token');
  });

  it('decodes inline certificate data and basic credentials', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const kc = KubeConfig.fromFile(
      kubeconfig(
        {
          'client-certificate-data': b64('CERT'),
          'client-key-data': b64('KEY'),
          username: 'a',
          password: 'b',
        },
        { 'certificate-authority-data': b64('CA') },
      ),
    );
    expect(kc.data).toMatchObject({ ca: 'CA', cert: 'CERT', key: 'KEY' });
    expect((await kc.auth()).authorization).toBe(`Basic ${b64('a:b')}`);
  });

  it('runs an exec credential plugin and caches its token until it expires', async () => {
    const counter = join(dir, 'exec-count');
    writeFileSync(counter, '');
    const script = join(dir, 'plugin.sh');
    writeFileSync(
      script,
      `#!/bin/sh\necho x >> ${counter}\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-plugin","expirationTimestamp":"2999-01-01T00:00:00Z"}}'\n`,
      { mode: 0o755 },
    );
    const kc = KubeConfig.fromFile(
      kubeconfig({ exec: { command: script, apiVersion: 'client.authentication.k8s.io/v1' } }),
    );
    expect((await kc.auth()).authorization).toBe('Bearer from-plugin');
    expect((await kc.auth()).authorization).toBe('Bearer from-plugin');
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(counter, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('says where it looked when there is no cluster', () => {
    expect(() => KubeConfig.load(undefined, { HOME: dir })).toThrow(
      /no cluster found: KUBECONFIG is not set/,
    );
    expect(() => KubeConfig.load(undefined, { KUBECONFIG: join(dir, 'missing') })).toThrow(
      /names no existing file/,
    );
  });
});

describe('KubeClient', () => {
  it('sends JSON with the token, counts verbs, and turns an error Status into a KubeError', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization} ${req.headers['content-type'] ?? ''}`);
      if (req.url?.startsWith('/api/v1/namespaces/ns/secrets/missing')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ kind: 'Status', reason: 'NotFound', message: 'secrets "missing" not found' }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[]}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const verbs: string[] = [];
      const kc = new KubeConfig({
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        token: 't',
        source: 'test',
      });
      const client = new KubeClient(kc, { onRequest: (v) => verbs.push(v) });
      await client.request('GET', '/api/v1/namespaces/ns/secrets', { query: { limit: 1 } });
      await client.request('PATCH', '/api/v1/namespaces/ns/secrets/s', {
        body: [],
        contentType: 'json-patch',
      });
      const err = await client.request('GET', '/api/v1/namespaces/ns/secrets/missing').catch((e) => e);
      expect(err).toBeInstanceOf(KubeError);
      expect(err).toMatchObject({ code: 404, reason: 'NotFound' });
      expect(err.message).toContain('secrets "missing" not found');
      expect(verbs).toEqual(['list', 'patch', 'get']);
      expect(seen[0]).toBe('GET /api/v1/namespaces/ns/secrets?limit=1 Bearer t ');
      expect(seen[1]).toBe('PATCH /api/v1/namespaces/ns/secrets/s Bearer t application/json-patch+json');
      await kc.close();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
