import { describe, expect, it } from 'vitest';
import type { TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// Vhost deletion protection is the broker's from RabbitMQ 4.1 (WARREN_TEST_BROKER=4.3 here): a
// protected vhost refuses every DELETE, whoever sends it. Before 4.1 asking for it is Rejected.
let ctx: TestContext;
let name: string;
useOperator(
  import.meta.url,
  (c) => {
    ctx = c;
    name = `${c.namespace}-prot`;
  },
  {
    cleanup: async (c) => {
      for (const v of [name, `${name}-byhand`]) {
        await fetch(`${c.env.managementUrl}/api/vhosts/${enc(v)}/deletion/protection`, {
          method: 'DELETE',
          headers: { authorization: `Basic ${btoa(`${c.env.adminUser}:${c.env.adminPassword}`)}` },
        });
        await c.broker.del(`/vhosts/${enc(v)}`);
      }
    },
  },
);

const within = { timeoutMs: 30_000 };
const b = { name: 'local' };
const get = () => ctx.get('rabbitvhosts', 'prot');
const supported = () => {
  const [major, minor] = ctx.env.rabbitmqVersion.split('.').map(Number);
  return major! > 4 || (major === 4 && minor! >= 1);
};
const protection = (method: 'POST' | 'DELETE') =>
  fetch(`${ctx.env.managementUrl}/api/vhosts/${enc(name)}/deletion/protection`, {
    method,
    headers: { authorization: `Basic ${btoa(`${ctx.env.adminUser}:${ctx.env.adminPassword}`)}` },
  });
const brokerVhost = async () => (await ctx.broker.get(`/vhosts/${enc(name)}`)).body;

describe('RabbitVhost deletionProtection', () => {
  it.runIf(process.env.WARREN_TEST_BROKER === '4.3')(
    'protects the vhost in the broker, puts protection back when lifted by hand, and holds the resource’s deletion until it is set to false',
    async () => {
      expect(supported()).toBe(true);
      await ctx.create('rabbitvhosts', 'prot', { brokerRef: b, name, deletionProtection: true });
      await eventually(get, isReadyNow, { ...within, what: 'prot Ready' });
      expect((await brokerVhost()).protected_from_deletion).toBe(true);
      // The broker itself refuses a delete from anyone.
      expect(await ctx.broker.del(`/vhosts/${enc(name)}`)).toBe(412);
      expect((await ctx.broker.get(`/vhosts/${enc(name)}`)).status).toBe(200);

      // Lifted behind warren's back: the survey puts it back.
      expect((await protection('DELETE')).status).toBe(204);
      await eventually(brokerVhost, (v) => v.protected_from_deletion === true, {
        ...within,
        what: 'protection back',
      });

      // Deleting the resource is the accident protection is for: held, the vhost kept.
      await ctx.remove('rabbitvhosts', 'prot');
      const held = await eventually(get, (o) => readyOf(o)?.reason === 'DeleteFailed', {
        ...within,
        what: 'prot DeleteFailed',
      });
      expect(readyOf(held).message).toMatch(/is protected \(spec\.deletionProtection\): set it to false/);
      expect((await ctx.broker.get(`/vhosts/${enc(name)}`)).status).toBe(200);

      // Set to false: protection lifted, then the vhost deleted with its resource.
      await ctx.patchSpec('rabbitvhosts', 'prot', { deletionProtection: false });
      await ctx.waitGone('rabbitvhosts', 'prot', 30_000);
      expect((await ctx.broker.get(`/vhosts/${enc(name)}`)).status).toBe(404);
    },
  );

  it.runIf(process.env.WARREN_TEST_BROKER === '4.3')(
    'without the field, leaves protection made by hand as it is, and holds the deletion with the broker’s message',
    async () => {
      const other = `${name}-byhand`;
      await ctx.create('rabbitvhosts', 'byhand', { brokerRef: b, name: other });
      await eventually(() => ctx.get('rabbitvhosts', 'byhand'), isReadyNow, {
        ...within,
        what: 'byhand Ready',
      });
      const path = `${ctx.env.managementUrl}/api/vhosts/${enc(other)}/deletion/protection`;
      const auth = { authorization: `Basic ${btoa(`${ctx.env.adminUser}:${ctx.env.adminPassword}`)}` };
      expect((await fetch(path, { method: 'POST', headers: auth })).status).toBe(204);
      await ctx.remove('rabbitvhosts', 'byhand');
      const held = await eventually(
        () => ctx.get('rabbitvhosts', 'byhand'),
        (o) => readyOf(o)?.reason === 'DeleteFailed',
        { ...within, what: 'byhand DeleteFailed' },
      );
      expect(readyOf(held).message).toMatch(/protected from deletion/);
      expect((await ctx.broker.get(`/vhosts/${enc(other)}`)).body.protected_from_deletion).toBe(true);
      expect((await fetch(path, { method: 'DELETE', headers: auth })).status).toBe(204);
      await ctx.waitGone('rabbitvhosts', 'byhand', 60_000);
      expect((await ctx.broker.get(`/vhosts/${enc(other)}`)).status).toBe(404);
    },
  );

  it.runIf(process.env.WARREN_TEST_BROKER !== '4.3')(
    'is Rejected before RabbitMQ 4.1, naming the version it needs, and creates nothing',
    async () => {
      expect(supported()).toBe(false);
      await ctx.create('rabbitvhosts', 'prot', { brokerRef: b, name, deletionProtection: true });
      const o = await eventually(get, (x) => readyOf(x)?.reason === 'Rejected', {
        ...within,
        what: 'prot Rejected',
      });
      expect(readyOf(o).message).toMatch(
        /deletionProtection needs RabbitMQ 4\.1 or later; this broker runs \d/,
      );
      expect((await ctx.broker.get(`/vhosts/${enc(name)}`)).status).toBe(404);
      // Without it, the vhost is declared.
      await ctx.patchSpec('rabbitvhosts', 'prot', { deletionProtection: false });
      await eventually(get, isReadyNow, { ...within, what: 'prot Ready' });
      expect((await ctx.broker.get(`/vhosts/${enc(name)}`)).status).toBe(200);
      await ctx.remove('rabbitvhosts', 'prot');
      await ctx.waitGone('rabbitvhosts', 'prot', 30_000);
      expect((await ctx.broker.get(`/vhosts/${enc(name)}`)).status).toBe(404);
    },
  );
});
