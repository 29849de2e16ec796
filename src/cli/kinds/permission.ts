import type { RabbitPermissionSpec } from '../../api/permission.ts';
import * as page from '../../kinds/permission.ts';
import type { CliKind } from '../types.ts';
import { q } from './common.ts';

export const permission: CliKind<RabbitPermissionSpec> = {
  kind: page.permissionKind,
  describe: ([, vhost, user]) => `permission of user ${q(user!)} in vhost ${q(vhost!)}`,

  fromDefinitions(defs, add) {
    for (const p of defs.permissions ?? []) {
      const { user, vhost, configure, write, read } = p;
      add(page.permissionsTable, [vhost, user], { user, vhost, configure, write, read });
    }
  },

  export: (inv) =>
    inv.rows(page.permissionsTable).map(([, p]) => ({
      identity: ['permission', p.vhost, p.user],
      nameParts: [p.user, p.vhost],
      vhost: p.vhost,
      matchNames: [p.user],
      needs: [
        ['user', p.user],
        ['vhost', p.vhost],
      ],
      spec: { vhost: p.vhost, user: p.user, configure: p.configure, write: p.write, read: p.read },
    })),

  plan(r, inv, { refs }) {
    const d = page.fromSpec(r, refs);
    const actual = d && inv.row(page.permissionsTable, d.vhost, d.user);
    if (!d || !actual) return { exists: false, differences: [] };
    return { exists: true, differences: page.differences(d, actual) };
  },
};
