import { createServer, type Server } from 'node:http';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { queueKind, queuesTable } from '../../src/kinds/queue.ts';
import { key } from '../../src/kinds/keys.ts';
import { Surveyor } from '../../src/kinds/survey.ts';
import { vhostKind } from '../../src/kinds/vhost.ts';
import { ManagementClient, type QueueInfo } from '../../src/rabbitmq/index.ts';
import type { SecretCache } from '../../src/runtime/secrets.ts';

// The survey's bookkeeping against a fake management API over real HTTP: the survey's request
// count is checked against the requests the server itself counted.

const ready = (generation = 1) => ({
  observedGeneration: generation,
  conditions: [{ type: 'Ready', status: 'True', reason: 'x', message: '', lastTransitionTime: '' }],
});
const queue = (name: string, isReady = true, vhost = 'v') => ({
  apiVersion: 'warren.dev/v1alpha1',
  kind: 'RabbitQueue',
  metadata: { name, namespace: 'ns', uid: name, generation: 1 },
  spec: { brokerRef: { name: 'b' }, vhost, durable: true, autoDelete: false },
  status: isReady ? ready() : { conditions: [] },
});
const vhostResource = (name: string) => ({
  apiVersion: 'warren.dev/v1alpha1',
  kind: 'RabbitVhost',
  metadata: { name, namespace: 'ns', uid: name, generation: 1 },
  spec: { brokerRef: { name: 'b' } },
  status: ready(),
});

interface FakeBroker {
  version: string;
  vhosts: string[];
  /** Each queue under a key of the test's choosing; served by the vhost it names. */
  queues: Map<string, QueueInfo>;
  /** The broker-wide queue list answers 500. */
  failWide?: boolean;
  marker?: string;
  requests: string[];
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function fakeBroker(version = '3.10.8') {
  const state: FakeBroker = { version, vhosts: ['v'], queues: new Map(), requests: [] };
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    state.requests.push(`${req.method} ${url.pathname}`);
    const json = (body: unknown, status = 200) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const p = url.pathname;
    if (p === '/api/overview') return json({ rabbitmq_version: state.version, node: 'n', cluster_name: 'c' });
    if (p === '/api/global-parameters/warren.dev-broker-id') {
      if (req.method === 'PUT') {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          state.marker = JSON.parse(body).value;
          res.writeHead(201).end();
        });
        return;
      }
      return state.marker ? json({ value: state.marker }) : json({ error: 'not_found' }, 404);
    }
    if (p === '/api/vhosts')
      return json(state.vhosts.map((name) => ({ name, description: '', tags: [], tracing: false })));
    if (
      [
        '/api/vhost-limits',
        '/api/users',
        '/api/user-limits',
        '/api/permissions',
        '/api/topic-permissions',
      ].includes(p)
    )
      return json([]);
    if (p === '/api/queues' && state.failWide) return json({ error: 'timeout' }, 500);
    if (p === '/api/queues' || p.startsWith('/api/queues/')) {
      // Paged as the broker does when asked for a page (warren should not ask: see listQueues).
      const vhost = p === '/api/queues' ? undefined : decodeURIComponent(p.slice('/api/queues/'.length));
      const all = [...state.queues.values()].filter((x) => vhost === undefined || x.vhost === vhost);
      const page = url.searchParams.get('page');
      if (page === null) return json(all);
      const size = Math.min(Number(url.searchParams.get('page_size') ?? 100), 2);
      return json({
        items: all.slice((Number(page) - 1) * size, Number(page) * size),
        page: Number(page),
        page_count: Math.max(1, Math.ceil(all.length / size)),
        total_count: all.length,
      });
    }
    json({ error: 'not_found', reason: p }, 404);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  const port = (server.address() as { port: number }).port;
  const client = new ManagementClient({ endpoint: `http://127.0.0.1:${port}`, username: 'u', password: 'p' });
  const q = (name: string, args: Record<string, unknown> = {}, vhost = 'v'): QueueInfo => ({
    name,
    vhost,
    type: 'classic',
    durable: true,
    auto_delete: false,
    arguments: args,
  });
  return { state, client, q };
}

function setup(queues: ReturnType<typeof queue>[], vhosts: ReturnType<typeof vhostResource>[] = []) {
  const enqueued: string[] = [];
  const kinds = [
    { kind: queueKind, resources: queues },
    { kind: vhostKind, resources: vhosts },
  ].map(({ kind, resources }) => ({
    kind,
    list: () => resources as never,
    enqueue: (k: string) => enqueued.push(`${kind.def.plural}:${k}`),
    brokerOf: (r: { metadata: { namespace: string }; spec: { brokerRef: { name: string } } }) =>
      `${r.metadata.namespace}/${r.spec.brokerRef.name}`,
  }));
  const surveyor = new Surveyor({
    kinds: kinds as never,
    secrets: {} as SecretCache,
    refs: { lookup: () => undefined },
    log: pino({ level: 'silent' }),
  });
  return { surveyor, enqueued };
}

/** A surveyor of these kinds and their resources, all on broker ns/b; what it queues is kept. */
function surveyorOf(kinds: Array<[unknown, unknown[]]>) {
  const enqueued: string[] = [];
  const surveyor = new Surveyor({
    kinds: kinds.map(([kind, resources]) => ({
      kind,
      list: () => resources,
      enqueue: (k: string) => enqueued.push(k),
      brokerOf: () => 'ns/b',
    })) as never,
    secrets: {} as SecretCache,
    refs: { lookup: () => undefined },
    log: pino({ level: 'silent' }),
  });
  return { surveyor, enqueued };
}

describe('Surveyor', () => {
  it('queues exactly the drifted resources, counts repairs, and counts the requests it made', async () => {
    const { state, client, q } = await fakeBroker();
    const resources = [queue('a'), queue('b'), queue('c', false)];
    const { surveyor, enqueued } = setup(resources);
    state.queues.set('a', q('a'));
    state.queues.set('b', q('b'));
    state.queues.set('stray', q('stray'));
    await client.capabilities();

    state.requests.length = 0;
    const first = await surveyor.survey('ns/b', client);
    expect(first).toMatchObject({ managed: 3, drifted: 0, repaired: 0, unmanaged: 2, resetDetected: false });
    // Marker GET + PUT, the broker-wide tables, and the queue list of vhost v in one request
    // (the fake would page it in pages of two if asked).
    expect(state.requests.filter((r) => r === 'GET /api/queues/v')).toHaveLength(1);
    expect(first.requests).toBe(state.requests.length);
    expect(enqueued).toEqual([]);

    state.queues.delete('b'); // deleted behind warren's back; `c` is not Ready so it is not judged
    state.queues.set('a', q('a', { 'x-max-length': 5 })); // and `a` changed
    state.requests.length = 0;
    const second = await surveyor.survey('ns/b', client);
    expect(second).toMatchObject({ drifted: 2, repaired: 0 });
    expect(second.requests).toBe(state.requests.length);
    expect(enqueued.sort()).toEqual(['rabbitqueues:ns/a', 'rabbitqueues:ns/b']);

    state.queues.set('a', q('a'));
    state.queues.set('b', q('b'));
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 0, repaired: 2 });
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 0, repaired: 2 });
  });

  it('reuses what an unchanged survey built, and sees a new resource or a changed row at once', async () => {
    const { state, client, q } = await fakeBroker();
    const resources = [queue('a')];
    let claimsCalls = 0;
    let checks = 0;
    const counting = {
      ...queueKind,
      claims: (r: any, refs: any) => {
        claimsCalls++;
        return queueKind.claims!(r, refs);
      },
      inSync: (r: any, snap: any, ctx: any) => {
        checks++;
        return queueKind.inSync!(r, snap, ctx);
      },
    };
    // No vhost resources, but its table is read: absent() needs to know the vhost exists.
    const { surveyor, enqueued } = surveyorOf([
      [counting, resources],
      [vhostKind, []],
    ]);
    state.queues.set('a', q('a'));
    state.queues.set('stray', q('stray'));
    const first = await surveyor.survey('ns/b', client);
    expect(first).toMatchObject({ managed: 1, drifted: 0, unmanaged: 2 }); // stray and the vhost v
    expect(claimsCalls).toBe(1);
    expect(checks).toBe(1);
    // Nothing changed: neither the claims nor the checks are worked out again; the same answer.
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 0, unmanaged: 2 });
    expect(claimsCalls).toBe(1);
    expect(checks).toBe(1);
    expect(surveyor.absent('ns/b', queuesTable, ['v', 'b'], 'v')).toBe(true);
    expect(surveyor.absent('ns/b', queuesTable, ['v', 'stray'], 'v')).toBe(false);

    // A new resource (the list changed in place) claims stray at once.
    resources.push(queue('stray'));
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ managed: 2, drifted: 0, unmanaged: 1 });
    expect(claimsCalls).toBe(3);
    // A row gone from the broker is drift at once, and known absent.
    state.queues.delete('a');
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 1, unmanaged: 1 });
    expect(enqueued).toEqual(['ns/a']);
    expect(surveyor.absent('ns/b', queuesTable, ['v', 'a'], 'v')).toBe(true);

    // A resource not Ready is not judged; once its status says Ready (written in place, as the
    // reconciler keeps its cached copy in step) it is, though nothing else changed.
    state.queues.set('a', q('a'));
    const late = queue('late', false);
    resources.push(late);
    enqueued.length = 0;
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 0 });
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 0 });
    late.status = ready();
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 1 });
    expect(enqueued).toEqual(['ns/late']);
  });

  it("takes an informer's frozen list as it is, and sees a resource replaced in a new list", async () => {
    const { state, client, q } = await fakeBroker();
    let checks = 0;
    const counting = {
      ...queueKind,
      inSync: (r: any, snap: any, ctx: any) => {
        checks++;
        return queueKind.inSync!(r, snap, ctx);
      },
    };
    // As the informers hand it out: one frozen array until the cache changes.
    let current: ReadonlyArray<unknown> = Object.freeze([queue('a'), queue('late', false)]);
    const enqueued: string[] = [];
    const surveyor = new Surveyor({
      kinds: [
        {
          kind: counting,
          list: () => current,
          enqueue: (k: string) => enqueued.push(k),
          brokerOf: () => 'ns/b',
        },
        { kind: vhostKind, list: () => Object.freeze([]), enqueue: () => {}, brokerOf: () => 'ns/b' },
      ] as never,
      secrets: {} as SecretCache,
      refs: { lookup: () => undefined },
      log: pino({ level: 'silent' }),
    });
    state.queues.set('a', q('a'));
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ managed: 2, drifted: 0 });
    expect(checks).toBe(1); // `late` is not Ready: not judged
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 0 });
    expect(checks).toBe(1);
    // The informer replaced `late` with its Ready version: a new list, judged at once.
    current = Object.freeze([current[0], queue('late')]);
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 1 });
    expect(enqueued).toEqual(['ns/late']);
    expect(checks).toBe(3);
  });

  it('reads the vhost tables broker-wide for many vhosts, per vhost while other vhosts hold most rows', async () => {
    const { state, client, q } = await fakeBroker();
    const vhosts = Array.from({ length: 8 }, (_, i) => `w${i}`);
    state.vhosts.push(...vhosts, 'other');
    const resources = vhosts.map((v, i) => queue(`q${i}`, true, v));
    vhosts.forEach((v, i) => state.queues.set(`q${i}`, q(`q${i}`, {}, v)));
    state.queues.set('elsewhere', q('elsewhere', {}, 'other'));
    const { surveyor, enqueued } = setup(resources);
    const queueLists = () => state.requests.filter((r) => r.startsWith('GET /api/queues'));

    // One list for the eight vhosts; a row of a vhost no resource declares objects in is left out.
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ managed: 8, drifted: 0, unmanaged: 10 });
    expect(queueLists()).toEqual(['GET /api/queues']);
    expect(surveyor.absent('ns/b', queuesTable, ['w1', 'nope'], 'w1')).toBe(true);
    expect(surveyor.absent('ns/b', queuesTable, ['other', 'elsewhere'], 'other')).toBe(false); // not read
    state.queues.delete('q3');
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 1, repaired: 0 });
    expect(enqueued).toEqual(['rabbitqueues:ns/q3']);
    state.queues.set('q3', q('q3', {}, 'w3'));

    // A broker whose other vhosts hold more rows than these eight: per vhost from the next survey on.
    for (let i = 0; i < 9; i++) state.queues.set(`x${i}`, q(`x${i}`, {}, 'other'));
    state.requests.length = 0;
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 0, repaired: 1, unmanaged: 10 });
    expect(queueLists()).toEqual(['GET /api/queues']);
    for (let n = 0; n < 10; n++) {
      state.requests.length = 0;
      expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 0, unmanaged: 10 });
      expect(queueLists().sort()).toEqual(vhosts.map((v) => `GET /api/queues/${v}`));
    }
    // Then broker-wide once more, to see whether that changed.
    state.requests.length = 0;
    await surveyor.survey('ns/b', client);
    expect(queueLists()).toEqual(['GET /api/queues']);
  });

  it('reads per vhost after a broker-wide list failed', async () => {
    const { state, client, q } = await fakeBroker();
    const vhosts = Array.from({ length: 8 }, (_, i) => `w${i}`);
    state.vhosts.push(...vhosts);
    vhosts.forEach((v, i) => state.queues.set(`q${i}`, q(`q${i}`, {}, v)));
    const { surveyor } = setup(vhosts.map((v, i) => queue(`q${i}`, true, v)));
    state.failWide = true; // the broker-wide queue list answers 500
    await expect(surveyor.survey('ns/b', client)).rejects.toThrow();
    state.requests.length = 0;
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ managed: 8, drifted: 0 });
    expect(state.requests.filter((r) => r.startsWith('GET /api/queues')).sort()).toEqual(
      vhosts.map((v) => `GET /api/queues/${v}`),
    );
  });

  it('does not take the x-queue-type 4.x stores for drift', async () => {
    const { state, client, q } = await fakeBroker('4.2.0');
    const { surveyor } = setup([queue('a')]);
    state.queues.set('a', q('a', { 'x-queue-type': 'classic' }));
    expect(await surveyor.survey('ns/b', client)).toMatchObject({ drifted: 0 });
  });

  it('re-queues everything when the broker lost its marker (reset or replaced)', async () => {
    const { state, client, q } = await fakeBroker();
    const { surveyor, enqueued } = setup([queue('a'), queue('c', false)]);
    state.queues.set('a', q('a'));
    await surveyor.survey('ns/b', client);
    state.marker = undefined;
    const after = await surveyor.survey('ns/b', client);
    expect(after.resetDetected).toBe(true);
    expect(enqueued.sort()).toEqual(['rabbitqueues:ns/a', 'rabbitqueues:ns/c']);
  });

  it('summarises per vhost what no resource declares, and re-queues the vhost when that changes', async () => {
    const { state, client, q } = await fakeBroker();
    const { surveyor, enqueued } = setup([queue('a')], [vhostResource('v')]);
    state.queues.set('a', q('a'));
    state.queues.set('celery', q('celery'));
    await surveyor.survey('ns/b', client);
    expect(surveyor.unmanagedIn('ns/b', 'v')).toEqual({ count: 1, sample: ['queue celery'] });
    expect(enqueued).toEqual(['rabbitvhosts:ns/v']);
    enqueued.length = 0;
    await surveyor.survey('ns/b', client);
    expect(enqueued).toEqual([]); // unchanged: no reconcile
    state.queues.delete('celery');
    await surveyor.survey('ns/b', client);
    expect(surveyor.unmanagedIn('ns/b', 'v')).toBeUndefined();
    expect(enqueued).toEqual(['rabbitvhosts:ns/v']);
  });

  it('reads runtime-state tables only while such resources exist, and judges those not Ready too', async () => {
    const { state, client } = await fakeBroker();
    let linkState = 'down';
    const stateTable = {
      name: 'linkStates',
      noun: 'link state',
      scope: 'broker' as const,
      settings: true,
      whenDeclared: true,
      read: async () => {
        await client.get('/api/link-states');
        return [[['l'], linkState]] as Array<[string[], string]>;
      },
    };
    const resources: any[] = [];
    const linkKind = {
      def: { plural: 'rabbitlinks', kind: 'RabbitLink' },
      identity: (r: any) => ['link', r.metadata.name],
      desired: () => ({}),
      apply: async () => 'unchanged' as const,
      remove: async () => undefined,
      check: async () => undefined,
      tables: [stateTable],
      // In sync while the state the broker reports is the one its status shows.
      inSync: (r: any, snap: any) => snap.row(stateTable, r.metadata.name) === r.status.state,
    };
    const { surveyor, enqueued } = surveyorOf([[linkKind, resources]]);
    await surveyor.survey('ns/b', client);
    expect(state.requests).not.toContain('GET /api/link-states');

    // Applied, but not Ready because its link is down: judged anyway, and queued once it is up.
    const notReady = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'False' }] };
    resources.push({
      metadata: { name: 'l', namespace: 'ns', generation: 1 },
      spec: {},
      status: { ...notReady, state: 'down' },
    });
    await surveyor.survey('ns/b', client);
    expect(state.requests).toContain('GET /api/link-states');
    expect(enqueued).toEqual([]);
    linkState = 'up';
    await surveyor.survey('ns/b', client);
    expect(enqueued).toEqual(['ns/l']);
  });

  it('queues a resource waiting for objects once a survey finds them all, made outside warren', async () => {
    const { state, client } = await fakeBroker();
    const waiting = (name: string, vhost: string) => ({
      ...queue(name, false, vhost),
      status: {
        observedGeneration: 1,
        conditions: [
          {
            type: 'Ready',
            status: 'False',
            reason: 'WaitingForDependency',
            message: '',
            lastTransitionTime: '',
          },
        ],
      },
    });
    const obj = (...identity: string[]) => key('obj', 'ns/b', ...identity);
    // As the reconciles declared them: w needs vhost v2; never needs v3; both need v.
    const deps: Record<string, string[]> = {
      'rabbitqueues|ns/w': [obj('vhost', 'v'), obj('vhost', 'v2'), key('secret', 'ns', 's')],
      'rabbitqueues|ns/never': [obj('vhost', 'v'), obj('vhost', 'v3')],
    };
    const enqueued: string[] = [];
    const surveyor = new Surveyor({
      kinds: [
        {
          kind: queueKind,
          list: () => [waiting('w', 'v2'), waiting('never', 'v3')],
          enqueue: (k: string) => enqueued.push(k),
          brokerOf: () => 'ns/b',
        },
        { kind: vhostKind, list: () => [], enqueue: (k: string) => enqueued.push(k), brokerOf: () => 'ns/b' },
      ] as never,
      secrets: {} as SecretCache,
      refs: { lookup: () => undefined },
      log: pino({ level: 'silent' }),
      dependencies: (d) => deps[d] ?? [],
    });
    await surveyor.survey('ns/b', client);
    await surveyor.survey('ns/b', client); // nothing changed in the broker: nothing to look at
    expect(enqueued).toEqual([]);
    state.vhosts.push('v2'); // made by hand
    await surveyor.survey('ns/b', client);
    expect(enqueued).toEqual(['ns/w']);
    await surveyor.survey('ns/b', client); // unchanged since: not queued again
    expect(enqueued).toEqual(['ns/w']);
  });
});
