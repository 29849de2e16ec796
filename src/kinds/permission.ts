import { RabbitPermission, type RabbitPermissionSpec } from '../api/permission.ts';
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
  configure: string;
  write: string;
  read: string;
}

export const permissionKind: TopologyKind<RabbitPermissionSpec, Desired> = {
  def: RabbitPermission,
  identity: (r) => `permission|${subjectIdentity(r.spec)}`,

  desired: (r, ctx) => ({
    ...resolveSubject(r, ctx),
    configure: r.spec.configure,
    write: r.spec.write,
    read: r.spec.read,
  }),

  async apply(d, r, { client }) {
    const wrote = await removeIfMoved(r, d, (old) => client.deletePermission(old.vhost, old.user));
    const actual = await client.getPermission(d.vhost, d.user);
    if (actual && actual.configure === d.configure && actual.write === d.write && actual.read === d.read)
      return wrote;
    await client
      .putPermission(d.vhost, d.user, { configure: d.configure, write: d.write, read: d.read })
      .catch((err) => waitIfMissing(err, d));
    return true;
  },

  async remove(r, { client }) {
    const s = appliedSubject(r);
    if (s) await client.deletePermission(s.vhost, s.user);
  },

  claims(r) {
    const s = appliedSubject(r);
    return s ? [`permissions|${s.vhost}|${s.user}`] : [];
  },

  inSync(r, snap) {
    const s = appliedSubject(r);
    const actual = s && snap.permissions.get(`${s.vhost}|${s.user}`);
    return (
      !!actual &&
      actual.configure === r.spec.configure &&
      actual.write === r.spec.write &&
      actual.read === r.spec.read
    );
  },

  status: (d) => ({ user: d.user, vhost: d.vhost }),
};
