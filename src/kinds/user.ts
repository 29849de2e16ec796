import { randomBytes } from 'node:crypto';
import { API_VERSION, Reasons, type Resource } from '../api/common.ts';
import { RabbitUser, type RabbitUserSpec } from '../api/user.ts';
import {
  api,
  brokerTags,
  hashPassword,
  isHashingAlgorithm,
  passwordMatches,
  type UserInfo,
  type UserLimitName,
} from '../rabbitmq/index.ts';
import type * as k8s from '@kubernetes/client-node';
import { corePath } from '../runtime/kube.ts';
import { secretValue } from '../runtime/secrets.ts';
import {
  Blocked,
  claim,
  depKeys,
  Kept,
  type Applied,
  type KindContext,
  type Table,
  type TopologyKind,
  entries,
} from './types.ts';
import {
  applyLimits,
  differing,
  limitDifferences,
  limitsMatch,
  sameAsLastTime,
  sameSet,
  type Difference,
} from './compare.ts';

export type Credential =
  | { kind: 'none' }
  | { kind: 'password'; password: string }
  | { kind: 'hash'; hash: string; algorithm: string };

interface Desired {
  username: string;
  tags: string[];
  credential: Credential;
  secretName?: string;
  limits: Record<UserLimitName, number | undefined>;
}

type Status = { username?: string; credentialsSecretName?: string };
export type User = Resource<RabbitUserSpec, Status>;

export const usersTable: Table<UserInfo> = {
  name: 'users',
  noun: 'user',
  scope: 'broker',
  read: async (client) => entries(usersTable, await client.listUsers(), (u) => [[u.name], u]),
};

export const userLimitsTable: Table<Record<string, number>> = {
  name: 'userLimits',
  noun: 'user limit',
  settings: true,
  scope: 'broker',
  read: async (client) => entries(userLimitsTable, await client.listUserLimits(), (l) => [[l.user], l.value]),
};

export const DEFAULT_ALGORITHM = 'rabbit_password_hashing_sha256';
export const generatedSecretName = (r: User) => `${r.metadata.name}-user-credentials`;
export const username = (r: User) => r.spec.username ?? r.metadata.name;

/** The user as the spec describes it, credentials aside (they come from a Secret). */
export const fromSpec = (r: User) => ({
  username: username(r),
  tags: brokerTags(r.spec.tags ?? []),
  limits: {
    'max-connections': r.spec.limits?.maxConnections,
    'max-channels': r.spec.limits?.maxChannels,
  } as Record<UserLimitName, number | undefined>,
});

/** What a reconcile would change in an existing user's tags and limits (credentials aside). */
export const differences = (
  d: ReturnType<typeof fromSpec>,
  actual: UserInfo,
  limits: Record<string, number>,
): Difference[] => [
  ...differing([['tags', actual.tags, d.tags, sameSet(actual.tags, d.tags)]]),
  ...limitDifferences(d.limits, limits),
];

/** The credential an imported Secret holds: its password, else its hash; undefined if neither. */
export function secretCredential(secret: k8s.V1Secret | undefined): Credential | undefined {
  const password = secretValue(secret, 'password');
  if (password) return { kind: 'password', password };
  const hash = secretValue(secret, 'passwordHash');
  const algorithm = secretValue(secret, 'hashingAlgorithm') || DEFAULT_ALGORITHM;
  return hash ? { kind: 'hash', hash, algorithm } : undefined;
}

/** Reads the imported Secret, or creates the generated one once (its password is never regenerated). */
async function credential(
  r: User,
  user: string,
  ctx: KindContext,
): Promise<{ credential: Credential; secretName?: string }> {
  const { namespace } = r.metadata;
  if (r.spec.passwordless) return { credential: { kind: 'none' } };
  const imported = r.spec.credentialsSecretRef?.name;
  const secretName = imported ?? generatedSecretName(r);
  ctx.dependOn(depKeys.secret(namespace, secretName));
  const secret = await ctx.secrets.get(namespace, secretName);
  if (!secret && imported)
    throw new Blocked(Reasons.SecretNotFound, `Secret ${namespace}/${secretName} not found`);
  if (!secret) {
    const password = randomBytes(24).toString('base64url');
    await ctx.kube.create(corePath('secrets', namespace), {
      metadata: {
        name: secretName,
        namespace,
        labels: { 'app.kubernetes.io/managed-by': 'warren' },
        ownerReferences: [
          {
            apiVersion: API_VERSION,
            kind: 'RabbitUser',
            name: r.metadata.name,
            uid: r.metadata.uid,
            controller: true,
          },
        ],
      },
      type: 'Opaque',
      data: { username: b64(user), password: b64(password) },
    });
    ctx.log.info({ secret: secretName }, 'generated credentials');
    return { credential: { kind: 'password', password }, secretName };
  }
  // Someone else's Secret under the generated name (an application's own credentials): neither
  // read, rewritten nor sent to the broker.
  if (!imported && !generatedFor(secret, r))
    throw new Blocked(
      Reasons.SecretConflict,
      `Secret ${namespace}/${secretName} exists and is not warren's (no owner reference to this RabbitUser, nor warren's label without another owner): left untouched, nothing written to the broker; move that Secret, or name it in spec.credentialsSecretRef to use it`,
    );
  const password = secretValue(secret, 'password');
  const hash = secretValue(secret, 'passwordHash');
  if (!imported && secretValue(secret, 'username') !== user) {
    // The user was renamed: keep the generated Secret's username in step, password untouched.
    await ctx.kube.patch(
      corePath('secrets', namespace, secretName),
      [{ op: 'add', path: '/data/username', value: b64(user) }],
      'json-patch',
    );
  }
  if (password !== undefined && password !== '')
    return { credential: { kind: 'password', password }, secretName };
  if (hash) {
    const algorithm = secretValue(secret, 'hashingAlgorithm') || DEFAULT_ALGORITHM;
    if (!isHashingAlgorithm(algorithm)) {
      throw new Blocked(
        Reasons.InvalidSecret,
        `Secret ${namespace}/${secretName}: unknown hashingAlgorithm '${algorithm}'`,
      );
    }
    return { credential: { kind: 'hash', hash, algorithm }, secretName };
  }
  throw new Blocked(
    Reasons.InvalidSecret,
    `Secret ${namespace}/${secretName} must hold key password or passwordHash`,
  );
}

/**
 * Whether warren made this Secret for this RabbitUser, so that it may use and patch it: it has an
 * owner reference to this very RabbitUser (uid), or warren's label and no owner at all (warren's,
 * kept by someone who removed the owner reference). Every warren so far has set both. The label
 * beside another owner is a copy: anyone who can write a Secret can write a label.
 */
export function generatedFor(secret: k8s.V1Secret, r: User): boolean {
  const owners = secret.metadata?.ownerReferences ?? [];
  if (r.metadata.uid && owners.some((o) => o.uid === r.metadata.uid)) return true;
  return owners.length === 0 && secret.metadata?.labels?.['app.kubernetes.io/managed-by'] === 'warren';
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

// Which namespace's resources made a broker user, kept beside it in the broker (a global runtime
// parameter per user, written only for tenants' users): it goes with the broker's data, and no
// status or annotation a tenant can write says it. A tenant may change or delete only the users
// its namespace made, or those its rule lets it adopt.
const creatorPath = (user: string) => api`/global-parameters/${`warren.dev-user-creator.${user}`}`;

async function createdBy(ctx: KindContext, user: string): Promise<string | undefined> {
  const p = await ctx.client.get<{ value?: unknown }>(creatorPath(user));
  return typeof p?.value === 'string' ? p.value : undefined;
}

async function recordCreator(ctx: KindContext, user: string, namespace: string): Promise<void> {
  await ctx.client.put(creatorPath(user), { name: `warren.dev-user-creator.${user}`, value: namespace });
}

/** Deletes a user, a tenant's only if its namespace made it (or adopted it); the record goes with it. */
async function deleteOwnUser(ctx: KindContext, user: string, namespace: string): Promise<void> {
  if (ctx.tenant) {
    const by = await createdBy(ctx, user);
    if (by !== namespace)
      throw new Kept(
        `user '${user}' was not made by namespace ${namespace}'s resources (${by ? `but by ${by}'s` : 'no record'}): nothing deleted`,
      );
  }
  await ctx.client.deleteUser(user);
  if (ctx.tenant) await ctx.client.delete(creatorPath(user));
}

export function credentialMatches(c: Credential, storedHash: string, algorithm: string): boolean {
  switch (c.kind) {
    case 'none':
      return storedHash === '';
    case 'password':
      return passwordMatches(storedHash, algorithm, c.password);
    case 'hash':
      return storedHash === c.hash && algorithm === c.algorithm;
  }
}

export const userKind: TopologyKind<RabbitUserSpec, Desired, Status> = {
  def: RabbitUser,
  identity: (r) => ['user', username(r)],
  touches: (r) => ({ user: { name: username(r), tags: r.spec.tags ?? [] } }),

  async desired(r, ctx) {
    const spec = fromSpec(r);
    const { credential: c, secretName } = await credential(r, spec.username, ctx);
    return { ...spec, credential: c, secretName };
  },

  async apply(d, r, ctx) {
    const { client } = ctx;
    let applied: Applied = 'unchanged';
    const actual = ctx.knownAbsent(usersTable, d.username) ? undefined : await client.getUser(d.username);
    if (ctx.tenant) {
      const ns = r.metadata.namespace;
      // Recorded before the user is made: a record without its user takes nothing from anyone.
      const by = actual ? await createdBy(ctx, d.username) : undefined;
      const refused = actual ? ctx.adoptionRefusal(d.username, by) : undefined;
      if (refused) throw new Blocked(Reasons.NotAllowed, refused);
      if (by !== ns) await recordCreator(ctx, d.username, ns);
    }
    const credentialOk =
      !!actual && credentialMatches(d.credential, actual.password_hash, actual.hashing_algorithm);
    if (!actual || !credentialOk || !sameSet(actual.tags, d.tags)) {
      const c = d.credential;
      // Keep the stored hash when the password is right (a new salt would be a needless change).
      const body =
        c.kind === 'none'
          ? { passwordless: true as const, tags: d.tags }
          : credentialOk
            ? {
                password_hash: actual!.password_hash,
                hashing_algorithm: actual!.hashing_algorithm,
                tags: d.tags,
              }
            : c.kind === 'hash'
              ? { password_hash: c.hash, hashing_algorithm: c.algorithm, tags: d.tags }
              : {
                  password_hash: hashPassword(c.password, DEFAULT_ALGORITHM),
                  hashing_algorithm: DEFAULT_ALGORITHM,
                  tags: d.tags,
                };
      await client.putUser(d.username, body);
      applied = actual ? 'updated' : 'created';
    }
    const limitsWritten = await applyLimits(
      d.limits,
      actual?.limits ?? {},
      (name, value) => client.putUserLimit(d.username, name, value),
      (name) => client.deleteUserLimit(d.username, name),
    );
    const previous = ctx.previous?.[1];
    const renamed = previous !== undefined && previous !== d.username;
    // A renamed user: the old broker user goes, unless another resource declares it (or it was
    // never this namespace's: then it is left as it is).
    if (renamed && !ctx.declaredByOther(['user', previous]))
      await deleteOwnUser(ctx, previous, r.metadata.namespace).catch((err) => {
        if (!(err instanceof Kept)) throw err;
        ctx.log.warn({ user: previous }, err.message);
      });
    return applied === 'unchanged' && (limitsWritten || renamed) ? 'updated' : applied;
  },

  async remove(r, ctx) {
    const name = username(r);
    const previous = ctx.previous?.[1];
    if (previous !== undefined && previous !== name && !ctx.declaredByOther(['user', previous]))
      await deleteOwnUser(ctx, previous, r.metadata.namespace).catch((err) => {
        if (!(err instanceof Kept)) throw err;
      });
    await deleteOwnUser(ctx, name, r.metadata.namespace);
  },

  tables: [usersTable, userLimitsTable],
  claims: (r) => [claim(usersTable, username(r))],

  inSync(r, snap, { secrets }) {
    const name = username(r);
    const actual = snap.row(usersTable, name);
    if (!actual) return false;
    const limits = snap.row(userLimitsTable, name);
    const matches = (secret: k8s.V1Secret | undefined) => {
      const d = fromSpec(r);
      if (name !== d.username || !sameSet(actual.tags, d.tags) || !limitsMatch(d.limits, limits ?? {}))
        return false;
      if (r.spec.passwordless) return actual.password_hash === '';
      const c = secretCredential(secret);
      return !!c && credentialMatches(c, actual.password_hash, actual.hashing_algorithm);
    };
    if (r.spec.passwordless) return sameAsLastTime(r, [actual, limits], () => matches(undefined));
    const secretName = r.spec.credentialsSecretRef?.name ?? generatedSecretName(r);
    // The same row, limits and Secret as last time: the same answer, without hashing the password
    // again (idle, a survey would otherwise hash every user's password).
    const cached = secrets.peek(r.metadata.namespace, secretName);
    if (cached) return sameAsLastTime(r, [actual, limits, cached], () => matches(cached));
    return secrets.get(r.metadata.namespace, secretName).then(matches);
  },

  status: (d) => ({ username: d.username, credentialsSecretName: d.secretName }),
};
