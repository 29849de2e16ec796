import { describe, expect, it } from 'vitest';
import type { TestContext } from '../support/context.ts';
import { useOperator } from '../support/suite.ts';
import { enc } from '../support/management.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

let ctx: TestContext;
let p: string;
useOperator(
  import.meta.url,
  (c) => {
    ctx = c;
    p = ctx.namespace;
  },
  {
    cleanup: async (c) => {
      await c.broker.del(`/vhosts/${enc(`${p}-vh`)}`);
      for (const u of ['alice', 'bob', 'carol']) await c.broker.del(`/users/${enc(`${p}-${u}`)}`);
    },
  },
);

const ready = (plural: string, name: string) =>
  eventually(() => ctx.get(plural, name), isReadyNow, { what: `${plural}/${name} Ready` });
const broker = { name: 'local' };

describe('RabbitPermission', () => {
  it('waits for its user and vhost, then becomes Ready once they appear (no blind backoff)', async () => {
    await ctx.create('rabbitpermissions', 'alice-on-vh', {
      brokerRef: broker,
      vhostRef: { name: 'vh' },
      userRef: { name: 'alice' },
      configure: '^alice\\.',
      write: '.*',
      read: '.*',
    });
    const waiting = await eventually(
      () => ctx.get('rabbitpermissions', 'alice-on-vh'),
      (o) => readyOf(o)?.status === 'False',
    );
    expect(readyOf(waiting).reason).toBe('WaitingForDependency');
    expect(readyOf(waiting).message).toContain('RabbitVhost');
    await ctx.create('rabbitvhosts', 'vh', { brokerRef: broker, name: `${p}-vh` });
    await ctx.create('rabbitusers', 'alice', { brokerRef: broker, username: `${p}-alice` });
    const perm = await ready('rabbitpermissions', 'alice-on-vh');
    expect(perm.status).toMatchObject({ user: `${p}-alice`, vhost: `${p}-vh` });
    const res = await ctx.broker.get(`/permissions/${enc(`${p}-vh`)}/${enc(`${p}-alice`)}`);
    expect(res.body).toMatchObject({ configure: '^alice\\.', write: '.*', read: '.*' });
  });

  it('applies a changed regex', async () => {
    await ctx.patchSpec('rabbitpermissions', 'alice-on-vh', { write: '^w$' });
    await eventually(
      () => ctx.broker.get(`/permissions/${enc(`${p}-vh`)}/${enc(`${p}-alice`)}`),
      (r) => r.body?.write === '^w$',
      { what: 'write regex applied' },
    );
    await ready('rabbitpermissions', 'alice-on-vh');
  });

  it('grants by plain names, and waits while the named user does not exist in the broker', async () => {
    await ctx.create('rabbitpermissions', 'bob-by-name', {
      brokerRef: broker,
      vhost: `${p}-vh`,
      user: `${p}-bob`,
      configure: '',
      write: '',
      read: '.*',
    });
    const waiting = await eventually(
      () => ctx.get('rabbitpermissions', 'bob-by-name'),
      (o) => readyOf(o)?.status === 'False',
    );
    expect(readyOf(waiting).reason).toBe('WaitingForDependency');
    // A RabbitUser declaring that name re-triggers the permission through the dependency index.
    await ctx.create('rabbitusers', 'bob', { brokerRef: broker, username: `${p}-bob` });
    await ready('rabbitpermissions', 'bob-by-name');
  });

  it('removes the permission from the broker with the resource, and keeps it with Retain', async () => {
    await ctx.remove('rabbitpermissions', 'bob-by-name');
    await ctx.waitGone('rabbitpermissions', 'bob-by-name');
    expect((await ctx.broker.get(`/permissions/${enc(`${p}-vh`)}/${enc(`${p}-bob`)}`)).status).toBe(404);
    await ctx.patchSpec('rabbitpermissions', 'alice-on-vh', { deletionPolicy: 'Retain' });
    await ready('rabbitpermissions', 'alice-on-vh');
    await ctx.remove('rabbitpermissions', 'alice-on-vh');
    await ctx.waitGone('rabbitpermissions', 'alice-on-vh');
    expect((await ctx.broker.get(`/permissions/${enc(`${p}-vh`)}/${enc(`${p}-alice`)}`)).status).toBe(200);
  });

  it('rejects an invalid regular expression with the broker reason', async () => {
    await ctx.create('rabbitpermissions', 'bad-regex', {
      brokerRef: broker,
      vhost: `${p}-vh`,
      user: `${p}-bob`,
      configure: '(',
      write: '',
      read: '',
    });
    const o = await eventually(
      () => ctx.get('rabbitpermissions', 'bad-regex'),
      (x) => readyOf(x)?.reason === 'Rejected',
    );
    expect(readyOf(o).message).toMatch(/regexp|regex/i);
  });
});

describe('RabbitTopicPermission', () => {
  it('grants, updates and removes a topic permission on one exchange', async () => {
    await ctx.create('rabbitusers', 'carol', { brokerRef: broker, username: `${p}-carol` });
    await ctx.create('rabbittopicpermissions', 'carol-topic', {
      brokerRef: broker,
      vhostRef: { name: 'vh' },
      userRef: { name: 'carol' },
      exchange: 'amq.topic',
      write: '^carol\\.',
      read: '.*',
    });
    await ready('rabbittopicpermissions', 'carol-topic');
    const path = `/topic-permissions/${enc(`${p}-vh`)}/${enc(`${p}-carol`)}`;
    expect((await ctx.broker.get(path)).body).toEqual([
      expect.objectContaining({ exchange: 'amq.topic', write: '^carol\\.', read: '.*' }),
    ]);
    await ctx.patchSpec('rabbittopicpermissions', 'carol-topic', { read: '^r' });
    await eventually(
      () => ctx.broker.get(path),
      (r) => r.body?.[0]?.read === '^r',
      { what: 'read regex applied' },
    );
    await ctx.remove('rabbittopicpermissions', 'carol-topic');
    await ctx.waitGone('rabbittopicpermissions', 'carol-topic');
    expect((await ctx.broker.get(path)).status).toBe(404);
  });

  it('on a topic exchange that does not exist yet: granted (3.10, 4.0), or waits for the exchange (4.3)', async () => {
    await ctx.create('rabbittopicpermissions', 'carol-later', {
      brokerRef: broker,
      vhostRef: { name: 'vh' },
      userRef: { name: 'carol' },
      exchange: 'events.later',
      write: '.*',
      read: '.*',
    });
    const path = `/exchanges/${enc(`${p}-vh`)}/events.later`;
    const o = await eventually(
      () => ctx.get('rabbittopicpermissions', 'carol-later'),
      (x) => isReadyNow(x) || readyOf(x)?.reason === 'WaitingForDependency',
    );
    if (isReadyNow(o)) return;
    expect(readyOf(o).message).toContain('no_such_exchange');
    // The exchange appears (declared by someone else here): the retry succeeds.
    expect(await ctx.broker.put(path, { type: 'topic', durable: true })).toBe(201);
    await ready('rabbittopicpermissions', 'carol-later');
  });
});
