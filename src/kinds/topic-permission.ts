import { RabbitTopicPermission, type RabbitTopicPermissionSpec } from '../api/permission.ts';
import type { Resource } from '../api/common.ts';
import type { TopicPermission } from '../rabbitmq/index.ts';
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
import { claim, type Refs, type Table, type TopologyKind, entries } from './types.ts';

export interface Desired extends Subject {
  exchange: string;
  write: string;
  read: string;
}

export const topicPermissionsTable: Table<TopicPermission> = {
  name: 'topicPermissions',
  noun: 'topic permission',
  scope: 'broker',
  read: async (client) =>
    entries(topicPermissionsTable, await client.listTopicPermissions(), (p) => [
      [p.vhost, p.user, p.exchange],
      p,
    ]),
};

/** The topic permission the spec declares, references resolved from the referenced resources' specs. */
export function fromSpec(r: Resource<RabbitTopicPermissionSpec>, refs: Refs): Desired | undefined {
  const s = specSubject(r, refs);
  return s && { ...s, exchange: r.spec.exchange, write: r.spec.write, read: r.spec.read };
}

/** What a reconcile would change in an existing topic permission. */
export const differences = (d: Pick<Desired, 'write' | 'read'>, actual: TopicPermission): Difference[] =>
  differing((['write', 'read'] as const).map((k) => [k, actual[k], d[k], actual[k] === d[k]]));

export const topicPermissionKind: TopologyKind<RabbitTopicPermissionSpec, Desired> = {
  def: RabbitTopicPermission,
  identity: (r, refs) => ['topic-permission', ...subjectIdentity(r, refs), r.spec.exchange],
  references: SUBJECT_REFERENCES,
  vhostOf: (r, refs) => specSubject(r, refs)?.vhost,

  desired: (r, ctx) => ({
    ...resolveSubject(r, ctx),
    exchange: r.spec.exchange,
    write: r.spec.write,
    read: r.spec.read,
  }),

  async apply(d, r, ctx) {
    const { client } = ctx;
    const moved = await removeIfMoved(
      d,
      (old) => ['topic-permission', old.vhost, old.user, d.exchange],
      ctx,
      (old) => client.deleteTopicPermission(old.vhost, old.user, d.exchange),
    );
    // The broker returns every exchange's entry for the pair; pick ours.
    const actual = (await client.getTopicPermissions(d.vhost, d.user)).find((p) => p.exchange === d.exchange);
    if (actual && !differences(d, actual).length) return moved ? 'updated' : 'unchanged';
    await client
      .putTopicPermission(d.vhost, d.user, { exchange: d.exchange, write: d.write, read: d.read })
      .catch((err) => waitIfMissing(err, d));
    return actual ? 'updated' : 'created';
  },

  async remove(r, ctx) {
    const s = specSubject(r, ctx) ?? previousSubject(ctx.previous);
    if (s) await ctx.client.deleteTopicPermission(s.vhost, s.user, r.spec.exchange);
  },

  tables: [topicPermissionsTable],
  claims(r, refs) {
    const s = specSubject(r, refs);
    return s ? [claim(topicPermissionsTable, s.vhost, s.user, r.spec.exchange)] : [];
  },

  inSync(r, snap, refs) {
    const s = specSubject(r, refs);
    const actual = s && snap.row(topicPermissionsTable, s.vhost, s.user, r.spec.exchange);
    return !!actual && sameAsLastTime(r, [actual], () => !differences(r.spec, actual).length);
  },

  status: (d) => ({ user: d.user, vhost: d.vhost }),
};
