import type { RabbitTopicPermissionSpec } from '../../api/permission.ts';
import * as page from '../../kinds/topic-permission.ts';
import type { CliKind } from '../types.ts';
import { q } from './common.ts';

export const topicPermission: CliKind<RabbitTopicPermissionSpec> = {
  kind: page.topicPermissionKind,
  describe: ([, vhost, user, exchange]) =>
    `topic permission of user ${q(user!)} on exchange ${q(exchange!)} in vhost ${q(vhost!)}`,

  fromDefinitions(defs, add) {
    for (const p of defs.topic_permissions ?? []) {
      const { user, vhost, exchange, write, read } = p;
      add(page.topicPermissionsTable, [vhost, user, exchange], { user, vhost, exchange, write, read });
    }
  },

  export: (inv) =>
    inv.rows(page.topicPermissionsTable).map(([, p]) => ({
      identity: ['topic-permission', p.vhost, p.user, p.exchange],
      nameParts: [p.user, p.vhost, p.exchange],
      vhost: p.vhost,
      matchNames: [p.user],
      needs: [
        ['user', p.user],
        ['vhost', p.vhost],
      ],
      spec: { vhost: p.vhost, user: p.user, exchange: p.exchange, write: p.write, read: p.read },
    })),

  plan(r, inv, { refs }) {
    const d = page.fromSpec(r, refs);
    const actual = d && inv.row(page.topicPermissionsTable, d.vhost, d.user, d.exchange);
    if (!d || !actual) return { exists: false, differences: [] };
    return { exists: true, differences: page.differences(d, actual) };
  },
};
