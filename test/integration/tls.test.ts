import * as k8s from '@kubernetes/client-node';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issue, makeCA, type Issued } from '../support/certs.ts';
import { testContext, type TestContext } from '../support/context.ts';
import { freePort } from '../support/ports.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';
import { startBroker, type Broker } from '../support/rabbitmq.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// TLS to the management API, against a broker of this file's own whose management listener is
// TLS-only for the operator (https on its own port) and requires a client certificate signed by
// CA "a". Its certificate names localhost only, so connecting to 127.0.0.1 needs serverName.
let ctx: TestContext;
let op: RunningOperator;
let broker: Broker;
let caA: Issued;
let caB: Issued;
let clientA: Issued;
let clientB: Issued;
let httpsUrl: string;

const tlsSecret = (name: string, c: Issued) =>
  ctx.core.createNamespacedSecret({
    namespace: ctx.namespace,
    body: {
      metadata: { name },
      type: 'kubernetes.io/tls',
      stringData: { 'tls.crt': c.cert, 'tls.key': c.key },
    },
  });
const caSecret = (name: string, ca: Issued) =>
  ctx.core.createNamespacedSecret({
    namespace: ctx.namespace,
    body: { metadata: { name }, stringData: { 'ca.crt': ca.cert } },
  });
const replaceSecretData = (name: string, data: Record<string, string>) =>
  ctx.core.patchNamespacedSecret(
    {
      namespace: ctx.namespace,
      name,
      body: {
        data: Object.fromEntries(
          Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
        ),
      },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );

const broke = (name: string, tls: unknown) =>
  ctx.create('rabbitbrokers', name, {
    endpoint: httpsUrl,
    credentialsSecretRef: { name: 'own-admin' },
    surveyInterval: '5s',
    tls,
  });

const notReady = (name: string) =>
  eventually(
    () => ctx.get('rabbitbrokers', name),
    (b) => readyOf(b)?.status === 'False',
    { what: `${name} Ready=False` },
  ).then(readyOf);

const ready = (name: string) =>
  eventually(() => ctx.get('rabbitbrokers', name), isReadyNow, { what: `${name} Ready`, timeoutMs: 30_000 });

beforeAll(async () => {
  ctx = await testContext(import.meta.url);
  const dir = join(ctx.env.dir, `certs-${ctx.namespace}`);
  caA = makeCA(dir, 'ca-a');
  caB = makeCA(dir, 'ca-b');
  const server = issue(dir, caA, 'server', { dns: ['localhost'] });
  clientA = issue(dir, caA, 'client-a', { client: true });
  clientB = issue(dir, caB, 'client-b', { client: true });
  const tlsPort = await freePort();
  broker = await startBroker(join(ctx.env.dir, `broker-${ctx.namespace}`), undefined, undefined, {
    files: { 'ca.crt': caA.cert, 'server.crt': server.cert, 'server.key': server.key },
    config: (d) => [
      'management.ssl.ip = 127.0.0.1',
      `management.ssl.port = ${tlsPort}`,
      `management.ssl.cacertfile = ${d}/ca.crt`,
      `management.ssl.certfile = ${d}/server.crt`,
      `management.ssl.keyfile = ${d}/server.key`,
      'management.ssl.verify = verify_peer',
      'management.ssl.fail_if_no_peer_cert = true',
    ],
  });
  httpsUrl = `https://127.0.0.1:${tlsPort}`;
  await ctx.core.createNamespacedSecret({
    namespace: ctx.namespace,
    body: {
      metadata: { name: 'own-admin' },
      stringData: { username: broker.username, password: broker.password },
    },
  });
  await caSecret('ca-a', caA);
  await tlsSecret('client-a', clientA);
  op = await startOperator(ctx);
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await broker?.stop();
  await ctx?.cleanup();
});

describe('TLS to the management API', () => {
  it('connects with the CA from a Secret, a client certificate and the server name, and serves dependents', async () => {
    await broke('verified', {
      ca: { secretKeyRef: { name: 'ca-a' } },
      clientCertificateSecretRef: { name: 'client-a' },
      serverName: 'localhost',
    });
    const b = await ready('verified');
    expect(b.status.endpoint).toBe(httpsUrl);
    expect(readyOf(b).message).not.toMatch(/NOT verified/);
    await ctx.create('rabbitqueues', 'over-tls', { brokerRef: { name: 'verified' } });
    await eventually(() => ctx.get('rabbitqueues', 'over-tls'), isReadyNow, { what: 'queue over TLS Ready' });
    const admin = `Basic ${Buffer.from(`${broker.username}:${broker.password}`).toString('base64')}`;
    const res = await fetch(`${broker.managementUrl}/api/queues/%2F/over-tls`, {
      headers: { authorization: admin },
    });
    expect(res.status).toBe(200);
  });

  it('says certificate verification failed when the CA is wrong, and recovers when the CA Secret is rotated', async () => {
    await caSecret('ca-rotating', caB);
    await broke('rotating', {
      ca: { secretKeyRef: { name: 'ca-rotating' } },
      clientCertificateSecretRef: { name: 'client-a' },
      serverName: 'localhost',
    });
    const r = await notReady('rotating');
    expect(r.reason).toBe('CertificateVerificationFailed');
    expect(r.message).toMatch(/certificate verification failed/);
    // A dependent says why too, and waits.
    await ctx.create('rabbitqueues', 'behind-bad-ca', { brokerRef: { name: 'rotating' } });
    const q = await eventually(
      () => ctx.get('rabbitqueues', 'behind-bad-ca'),
      (x) => readyOf(x)?.status === 'False',
    );
    expect(readyOf(q).message).toMatch(/certificate verification failed/);
    await replaceSecretData('ca-rotating', { 'ca.crt': caA.cert });
    await ready('rotating');
    await eventually(() => ctx.get('rabbitqueues', 'behind-bad-ca'), isReadyNow, { what: 'dependent Ready' });
  });

  it('takes the CA from a ConfigMap key, watched', async () => {
    await ctx.core.createNamespacedConfigMap({
      namespace: ctx.namespace,
      body: { metadata: { name: 'bundle' }, data: { 'roots.pem': caB.cert } },
    });
    await broke('from-configmap', {
      ca: { configMapKeyRef: { name: 'bundle', key: 'roots.pem' } },
      clientCertificateSecretRef: { name: 'client-a' },
      serverName: 'localhost',
    });
    expect((await notReady('from-configmap')).reason).toBe('CertificateVerificationFailed');
    await ctx.core.patchNamespacedConfigMap(
      { namespace: ctx.namespace, name: 'bundle', body: { data: { 'roots.pem': `${caB.cert}${caA.cert}` } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await ready('from-configmap');
  });

  it('checks the server name: the certificate names localhost, not 127.0.0.1', async () => {
    await broke('no-server-name', {
      ca: { secretKeyRef: { name: 'ca-a' } },
      clientCertificateSecretRef: { name: 'client-a' },
    });
    const r = await notReady('no-server-name');
    expect(r.reason).toBe('CertificateVerificationFailed');
    expect(r.message).toMatch(/127\.0\.0\.1|altnames|ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('is refused by a broker that requires a client certificate when none or a foreign one is given; a rotated one is used', async () => {
    await broke('no-client-cert', { ca: { secretKeyRef: { name: 'ca-a' } }, serverName: 'localhost' });
    const none = await notReady('no-client-cert');
    expect(none.reason).toBe('BrokerUnreachable');
    expect(none.message).toMatch(/the broker requires a client certificate/);
    await tlsSecret('client-rotating', clientB);
    await broke('foreign-client-cert', {
      ca: { secretKeyRef: { name: 'ca-a' } },
      clientCertificateSecretRef: { name: 'client-rotating' },
      serverName: 'localhost',
    });
    const foreign = await notReady('foreign-client-cert');
    expect(foreign.reason).toBe('BrokerUnreachable');
    expect(foreign.message).toMatch(/does not accept the client certificate/);
    await replaceSecretData('client-rotating', { 'tls.crt': clientA.cert, 'tls.key': clientA.key });
    await ready('foreign-client-cert');
  });

  it('connects without verifying under insecureSkipVerify, and says so with a Warning event', async () => {
    await broke('insecure', { insecureSkipVerify: true, clientCertificateSecretRef: { name: 'client-a' } });
    const b = await ready('insecure');
    expect(readyOf(b).message).toMatch(/certificate NOT verified/);
    const events = await eventually(
      () => ctx.kc.makeApiClient(k8s.EventsV1Api).listNamespacedEvent({ namespace: ctx.namespace }),
      (l) => l.items.some((e) => e.regarding?.name === 'insecure' && e.reason === 'InsecureSkipVerify'),
      { what: 'InsecureSkipVerify event' },
    );
    const e = events.items.find((x) => x.reason === 'InsecureSkipVerify')!;
    expect(e.type).toBe('Warning');
  });

  it('refuses insecureSkipVerify together with a CA at the API server', async () => {
    await expect(
      broke('contradiction', { insecureSkipVerify: true, ca: { secretKeyRef: { name: 'ca-a' } } }),
    ).rejects.toThrow(/insecureSkipVerify excludes ca/);
  });
});
