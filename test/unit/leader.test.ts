import { Kube, KubeError } from '../../src/runtime/kube.ts';
import { KubeConfig } from '../../src/runtime/kubeconfig.ts';
import { pino } from 'pino';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkLeaseTimings,
  LeaderElector,
  leaseApi,
  withDeadline,
  type Lease,
  type LeaseApi,
} from '../../src/runtime/leader.ts';

const log = pino({ level: 'silent' });
// Short timings keep the tests fast; the ratios are the production ones (15s/10s/2s).
const timings = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 };

/** One Lease in memory with the API server's optimistic concurrency. */
class LeaseStore {
  lease?: Lease;
  private rv = 0;
  read(): Lease {
    if (!this.lease) throw new KubeError(404, 'GET', '/x', JSON.stringify({ reason: 'NotFound' }));
    return structuredClone(this.lease);
  }
  create(body: Lease): Lease {
    if (this.lease) throw new KubeError(409, 'GET', '/x', JSON.stringify({ reason: 'AlreadyExists' }));
    this.lease = {
      ...structuredClone(body),
      metadata: { ...body.metadata, resourceVersion: String(++this.rv) },
    };
    return this.read();
  }
  replace(body: Lease): Lease {
    if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion)
      throw new KubeError(409, 'GET', '/x', JSON.stringify({ reason: 'Conflict' }));
    this.lease = {
      ...structuredClone(body),
      metadata: { ...body.metadata, resourceVersion: String(++this.rv) },
    };
    return this.read();
  }
}

/** A LeaseApi on the store whose calls can be made to hang (ignoring any abort signal). */
function fakeApi(store: LeaseStore) {
  const state = { hung: false, calls: 0 };
  const run = <T>(f: () => T): Promise<T> => {
    state.calls++;
    if (state.hung) return new Promise<T>(() => undefined);
    return new Promise<T>((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(f());
        } catch (err) {
          reject(err);
        }
      }),
    );
  };
  const api = {
    readNamespacedLease: () => run(() => store.read()),
    createNamespacedLease: (p: { body: Lease }) => run(() => store.create(p.body)),
    replaceNamespacedLease: (p: { body: Lease }) => run(() => store.replace(p.body)),
  } as unknown as LeaseApi;
  return { api, state };
}

const electors: LeaderElector[] = [];
function elector(api: LeaseApi, identity: string, t: typeof timings = timings) {
  const e = new LeaderElector({ api, namespace: 'ns', name: 'warren-leader', identity, log, ...t });
  electors.push(e);
  return e;
}
afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.release()));
});

async function until(ok: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('LeaderElector', () => {
  it('a leader whose Lease requests hang stops at its renew deadline, before the standby can acquire', async () => {
    const store = new LeaseStore();
    const a = fakeApi(store);
    const b = fakeApi(store);
    const ea = elector(a.api, 'a');
    const eb = elector(b.api, 'b');
    let lostAt = 0;
    expect(await ea.acquire(() => (lostAt = performance.now()))).toBe(true);
    expect(ea.canWrite()).toBe(true);
    const term = ea.leadership!;
    expect(term.aborted).toBe(false);
    let bLeadsAt = 0;
    void eb.acquire(() => undefined).then((ok) => ok && (bLeadsAt = performance.now()));
    // Let a renew a few times, then hang every request it makes.
    const renewals = a.state.calls;
    await until(() => a.state.calls >= renewals + 4, 3000, 'a renewing');
    const hungAt = performance.now();
    a.state.hung = true;
    // Sample the fence: at no moment may both replicas be allowed to write.
    let both = false;
    const sampler = setInterval(() => (both ||= ea.canWrite() && eb.canWrite()), 1);
    try {
      await until(() => bLeadsAt > 0, 5000, 'b leading');
    } finally {
      clearInterval(sampler);
    }
    expect(lostAt).toBeGreaterThan(0);
    expect(term.aborted).toBe(true); // writes still in flight were cut off at the loss
    expect(ea.leadership).toBeUndefined();
    expect(ea.isLeader).toBe(false);
    expect(ea.canWrite()).toBe(false);
    // Lost at the renew deadline of the hang, so before the lease runs out (a bound a loaded
    // machine's late timers cannot break: the standby can only acquire after it)...
    expect(lostAt - hungAt).toBeLessThan(timings.leaseDurationMs);
    // ...and b acquired only after a lease duration without a renewal, so after a stopped.
    expect(bLeadsAt).toBeGreaterThan(lostAt);
    expect(bLeadsAt - lostAt).toBeGreaterThanOrEqual(timings.leaseDurationMs - timings.renewDeadlineMs - 250);
    expect(both).toBe(false);
    expect(eb.canWrite()).toBe(true);
  });

  it('stopped while waiting to acquire: acquire() resolves false and nothing starts', async () => {
    const store = new LeaseStore();
    const holder = elector(fakeApi(store).api, 'holder');
    expect(await holder.acquire(() => undefined)).toBe(true);
    // A 5 s retry pause: ended by the release well within it, or the pause was not cut short.
    const slow = { leaseDurationMs: 30_000, renewDeadlineMs: 20_000, retryPeriodMs: 5_000 };
    const standby = elector(fakeApi(store).api, 'standby', slow);
    const acquiring = standby.acquire(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const stoppedAt = performance.now();
    await standby.release();
    expect(await acquiring).toBe(false);
    expect(performance.now() - stoppedAt).toBeLessThan(slow.retryPeriodMs / 2);
    expect(standby.isLeader).toBe(false);
    expect(standby.canWrite()).toBe(false);
  });

  it('stopped while the acquiring request is out: hands the lease back and reports false', async () => {
    const store = new LeaseStore();
    const { api } = fakeApi(store);
    const e = elector(api, 'a');
    const acquiring = e.acquire(() => undefined);
    await e.release(); // the first read is already on its way
    expect(await acquiring).toBe(false);
    expect(store.lease?.spec?.holderIdentity ?? undefined).toBeUndefined();
  });

  it('hands the lease back on release so a standby takes over at once', async () => {
    const store = new LeaseStore();
    const ea = elector(fakeApi(store).api, 'a');
    expect(await ea.acquire(() => undefined)).toBe(true);
    const term = ea.leadership!;
    await ea.release();
    expect(ea.canWrite()).toBe(false);
    expect(term.aborted).toBe(true);
    const eb = elector(fakeApi(store).api, 'b');
    const t = performance.now();
    expect(await eb.acquire(() => undefined)).toBe(true);
    // Released leases carry a 1 s duration: well under the 1.5 s a held one would take.
    expect(performance.now() - t).toBeLessThan(timings.leaseDurationMs);
  });

  it('loses at once when it finds another holder', async () => {
    const store = new LeaseStore();
    let lost = false;
    const e = elector(fakeApi(store).api, 'a');
    expect(await e.acquire(() => (lost = true))).toBe(true);
    store.lease!.spec!.holderIdentity = 'intruder';
    store.lease!.metadata!.resourceVersion = '999';
    await until(() => lost, 1000, 'loss');
    expect(e.canWrite()).toBe(false);
  });

  it('refuses unsafe timings', () => {
    expect(
      checkLeaseTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }),
    ).toBeUndefined();
    expect(
      checkLeaseTimings({ leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }),
    ).toMatch(/shorter than the lease duration/);
    expect(
      checkLeaseTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }),
    ).toMatch(/retry period/);
    expect(
      () =>
        new LeaderElector({
          api: {} as LeaseApi,
          namespace: 'n',
          name: 'l',
          identity: 'i',
          log,
          renewDeadlineMs: 20_000,
        }),
    ).toThrow(RangeError);
  });
});

describe('withDeadline', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r) ?? r(undefined));
  });

  it('aborts a real request that gets no answer, closing its connection', async () => {
    let closed = false;
    let arrived = false;
    server = createServer((req) => {
      arrived = true;
      req.socket.on('close', () => (closed = true)); // never answered
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig({
      server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      token: 't',
      source: 'test',
    });
    const api = leaseApi(new Kube(kc));
    // Long enough for the request to reach the server on a loaded machine; that it fails at all
    // (the server never answers) is the deadline at work, so no upper bound on the time.
    const t = performance.now();
    await expect(
      withDeadline(1500, (opts) => api.readNamespacedLease({ name: 'l', namespace: 'n' }, opts)),
    ).rejects.toThrow(/no answer within 1500 ms|abort/i);
    expect(performance.now() - t).toBeGreaterThanOrEqual(1490);
    expect(arrived).toBe(true);
    await until(() => closed, 5000, 'the aborted request to close its connection');
  });

  it('fails at the deadline even when the call ignores the signal', async () => {
    // Never settled by the call: only the deadline can end it (else the test times out).
    await expect(withDeadline(100, () => new Promise(() => undefined))).rejects.toThrow(
      /no answer within 100 ms/,
    );
  });
});
