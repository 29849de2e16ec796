import { RabbitTopicPermission, type RabbitTopicPermissionSpec } from '../api/permission.ts';
import {
  appliedSubject,
  removeIfMoved,
  resolveSubject,
  subjectIdentity,
  waitIfMissing,
  type Subject,
} from './subject.ts';
import type { TopologyKind } from './types.ts';

interface Desired extends Subject {
  exchange: string;
  write: string;
  read: string;
}

export const topicPermissionKind: TopologyKind<RabbitTopicPermissionSpec, Desired> = {
  def: RabbitTopicPermission,
  identity: (r) => `topic-permission|${subjectIdentity(r.spec)}|${r.spec.exchange}`,

  desired: (r, ctx) => ({
    ...resolveSubject(r, ctx),
    exchange: r.spec.exchange,
    write: r.spec.write,
    read: r.spec.read,
  }),

  async apply(d, r, { client }) {
    const wrote = await removeIfMoved(r, d, (old) =>
      client.deleteTopicPermission(old.vhost, old.user, d.exchange),
    );
    // The broker returns every exchange's entry for the pair; pick ours.
    const actual = (await client.getTopicPermissions(d.vhost, d.user)).find((p) => p.exchange === d.exchange);
    if (actual && actual.write === d.write && actual.read === d.read) return wrote;
    await client
      .putTopicPermission(d.vhost, d.user, { exchange: d.exchange, write: d.write, read: d.read })
      .catch((err) => waitIfMissing(err, d));
    return true;
  },

  async remove(r, { client }) {
    const s = appliedSubject(r);
    if (s) await client.deleteTopicPermission(s.vhost, s.user, r.spec.exchange);
  },

  claims(r) {
    const s = appliedSubject(r);
    return s ? [`topicPermissions|${s.vhost}|${s.user}|${r.spec.exchange}`] : [];
  },

  inSync(r, snap) {
    const s = appliedSubject(r);
    const actual = s && snap.topicPermissions.get(`${s.vhost}|${s.user}|${r.spec.exchange}`);
    return !!actual && actual.write === r.spec.write && actual.read === r.spec.read;
  },

  status: (d) => ({ user: d.user, vhost: d.vhost }),
};
