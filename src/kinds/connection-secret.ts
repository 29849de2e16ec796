// The connection Secret a RabbitPermission may ask for (spec.connectionSecret): what an application
// needs to connect as the permission's user to its vhost, written by warren into the permission's
// namespace and kept in step with the user's password.
import type * as k8s from '@kubernetes/client-node';
import { API_VERSION, Reasons } from '../api/common.ts';
import type { RabbitPermissionSpec } from '../api/permission.ts';
import type { Resource } from '../api/common.ts';
import { corePath } from '../runtime/kube.ts';
import { secretValue } from '../runtime/secrets.ts';
import { splitNsName } from './keys.ts';
import { Blocked, depKeys, type KindContext } from './types.ts';
import { generatedFor, generatedSecretName, type User } from './user.ts';
import type { BrokerResource } from './brokers.ts';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** Where applications reach the broker: its spec.amqp, else the management endpoint's host. */
export function amqpAddress(
  broker: Pick<BrokerResource, 'spec'> | undefined,
  endpoint: string,
): { host: string; port: number; scheme: 'amqp' | 'amqps' } {
  const a = broker?.spec.amqp;
  const tls = a?.tls ?? false;
  const host = a?.host ?? new URL(endpoint).hostname;
  return {
    host: host.replace(/^\[(.*)\]$/, '$1'),
    port: a?.port ?? (tls ? 5671 : 5672),
    scheme: tls ? 'amqps' : 'amqp',
  };
}

/** The Secret's data: the URI as the RabbitMQ URI spec has it (user, password and vhost URL-encoded). */
export function connectionData(
  at: { host: string; port: number; scheme: string },
  user: string,
  password: string,
  vhost: string,
): Record<string, string> {
  const host = at.host.includes(':') ? `[${at.host}]` : at.host;
  const e = encodeURIComponent;
  return {
    uri: `${at.scheme}://${e(user)}:${e(password)}@${host}:${at.port}/${e(vhost)}`,
    host: at.host,
    port: String(at.port),
    vhost,
    username: user,
    password,
  };
}

/** The password of the RabbitUser a permission names, from the Secret warren reads it from. */
async function passwordOf(r: Resource<RabbitPermissionSpec>, ctx: KindContext): Promise<string> {
  const ns = r.metadata.namespace;
  const u = ctx.lookup('rabbitusers', ns, r.spec.userRef!.name) as User | undefined;
  if (!u)
    throw new Blocked(Reasons.WaitingForDependency, `RabbitUser ${ns}/${r.spec.userRef!.name} not found`);
  if (u.spec.passwordless)
    throw new Blocked(
      Reasons.InvalidSpec,
      `RabbitUser ${ns}/${u.metadata.name} is passwordless: no password for connectionSecret`,
    );
  const name = u.spec.credentialsSecretRef?.name ?? generatedSecretName(u);
  ctx.dependOn(depKeys.secret(ns, name));
  const secret = await ctx.secrets.get(ns, name);
  if (!secret) throw new Blocked(Reasons.WaitingForDependency, `Secret ${ns}/${name} not found`);
  if (!u.spec.credentialsSecretRef && !generatedFor(secret, u))
    throw new Blocked(
      Reasons.InvalidSecret,
      `Secret ${ns}/${name} is not warren's: not read for connectionSecret`,
    );
  const password = secretValue(secret, 'password');
  if (!password)
    throw new Blocked(
      Reasons.InvalidSecret,
      `Secret ${ns}/${name} holds no password (a passwordHash alone cannot go into connectionSecret)`,
    );
  return password;
}

const ownedBy = (s: k8s.V1Secret, r: Resource<unknown>) =>
  (s.metadata?.ownerReferences ?? []).some((o) => o.uid === r.metadata.uid);

/**
 * Writes the connection Secret when it is missing or says something else; returns whether it
 * wrote. A Secret of that name warren did not make for this permission is left alone
 * (InvalidSpec), as the generated user Secrets are.
 */
export async function writeConnectionSecret(
  r: Resource<RabbitPermissionSpec>,
  subject: { user: string; vhost: string },
  ctx: KindContext,
): Promise<boolean> {
  const wanted = r.spec.connectionSecret?.name;
  if (!wanted) return false;
  const ns = r.metadata.namespace;
  const broker = ctx.lookup('rabbitbrokers', ...splitNsName(ctx.brokerKey)) as BrokerResource | undefined;
  const data = connectionData(
    amqpAddress(broker, ctx.client.endpoint),
    subject.user,
    await passwordOf(r, ctx),
    subject.vhost,
  );
  ctx.dependOn(depKeys.secret(ns, wanted));
  const existing = await ctx.secrets.get(ns, wanted);
  const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)]));
  if (existing && !ownedBy(existing, r))
    // (After the permission's write, so not a refusal that claims nothing: a wrong spec.)
    throw new Blocked(
      Reasons.InvalidSpec,
      `Secret ${ns}/${wanted} exists and is not this RabbitPermission's connection Secret: left untouched; choose another spec.connectionSecret.name`,
    );
  if (existing && Object.keys(encoded).every((k) => existing.data?.[k] === encoded[k])) return false;
  const body = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: wanted,
      namespace: ns,
      labels: { 'app.kubernetes.io/managed-by': 'warren' },
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: 'RabbitPermission',
          name: r.metadata.name,
          uid: r.metadata.uid,
          controller: true,
        },
      ],
      ...(existing ? { resourceVersion: existing.metadata?.resourceVersion } : {}),
    },
    type: 'Opaque',
    data: encoded,
  };
  if (existing) await ctx.kube.replace(corePath('secrets', ns, wanted), body);
  else await ctx.kube.create(corePath('secrets', ns), body);
  ctx.log.info({ secret: wanted }, existing ? 'connection Secret updated' : 'connection Secret written');
  return true;
}
