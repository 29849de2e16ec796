import { RabbitPermission, type RabbitPermissionSpec } from '../api/permission.ts';
import type { Resource } from '../api/common.ts';
import type { Permission } from '../rabbitmq/index.ts';
import { differing, sameAsLastTime, type Difference } from './compare.ts';
import {
  previousSubject,
  SUBJECT_REFERENCES,
  removeIfMoved,
  resolveSubject,
  specSubject,
  subjectIdentity,
  waitIfMissing,
  type Subject,
} from './subject.ts';
import { writeConnectionSecret } from './connection-secret.ts';
import { claim, type Applied, type Refs, type Table, type TopologyKind, entries } from './types.ts';

export interface Desired extends Subject {
  configure: string;
  write: string;
  read: string;
}

export const permissionsTable: Table<Permission> = {
  name: 'permissions',
  noun: 'permission',
  scope: 'broker',
  read: async (client) =>
    entries(permissionsTable, await client.listPermissions(), (p) => [[p.vhost, p.user], p]),
};

/** The permission the spec declares, references resolved from the referenced resources' specs. */
export function fromSpec(r: Resource<RabbitPermissionSpec>, refs: Refs): Desired | undefined {
  const s = specSubject(r, refs);
  return s && { ...s, configure: r.spec.configure, write: r.spec.write, read: r.spec.read };
}

/** What a reconcile would change in an existing permission. */
export const differences = (
  d: Pick<Desired, 'configure' | 'write' | 'read'>,
  actual: Permission,
): Difference[] =>
  differing((['configure', 'write', 'read'] as const).map((k) => [k, actual[k], d[k], actual[k] === d[k]]));

export const permissionKind: TopologyKind<RabbitPermissionSpec, Desired> = {
  def: RabbitPermission,
  identity: (r, refs) => ['permission', ...subjectIdentity(r, refs)],
  references: SUBJECT_REFERENCES,
  vhostOf: (r, refs) => specSubject(r, refs)?.vhost,

  desired: (r, ctx) => ({
    ...resolveSubject(r, ctx),
    configure: r.spec.configure,
    write: r.spec.write,
    read: r.spec.read,
  }),

  async apply(d, r, ctx) {
    const { client } = ctx;
    const moved = await removeIfMoved(
      d,
      (old) => ['permission', old.vhost, old.user],
      ctx,
      (old) => client.deletePermission(old.vhost, old.user),
    );
    const actual = ctx.knownAbsent(permissionsTable, d.vhost, d.user)
      ? undefined
      : await client.getPermission(d.vhost, d.user);
    let applied: Applied = moved ? 'updated' : 'unchanged';
    if (!actual || differences(d, actual).length) {
      await client
        .putPermission(d.vhost, d.user, { configure: d.configure, write: d.write, read: d.read })
        .catch((err) => waitIfMissing(err, d));
      applied = actual ? 'updated' : 'created';
    }
    await writeConnectionSecret(r, d, ctx);
    return applied;
  },

  async remove(r, ctx) {
    const s = specSubject(r, ctx) ?? previousSubject(ctx.previous);
    if (s) await ctx.client.deletePermission(s.vhost, s.user);
  },

  tables: [permissionsTable],
  claims(r, refs) {
    const s = specSubject(r, refs);
    return s ? [claim(permissionsTable, s.vhost, s.user)] : [];
  },

  inSync(r, snap, refs) {
    const s = specSubject(r, refs);
    const actual = s && snap.row(permissionsTable, s.vhost, s.user);
    return !!actual && sameAsLastTime(r, [actual], () => !differences(r.spec, actual).length);
  },

  status: (d, r) => ({
    user: d.user,
    vhost: d.vhost,
    ...(r.spec.connectionSecret ? { connectionSecretName: r.spec.connectionSecret.name } : {}),
  }),
};
