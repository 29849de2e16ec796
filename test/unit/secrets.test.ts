import { KubeError, type Kube } from '../../src/runtime/kube.ts';

type Secret = {
  metadata?: { namespace?: string; name?: string; resourceVersion?: string };
  data?: Record<string, string>;
};
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WatchedCache as SecretCache, secretValue } from '../../src/runtime/secrets.ts';
import { FakeWatcher, memoryLogger } from '../support/fake-watch.ts';

const PASSWORD = 'hunter2-very-secret';
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The API server's Secrets, as the cache's read function sees them. */
class Server {
  secrets = new Map<string, Secret>();
  reads: string[] = [];
  failing = new Set<string>();
  put(ns: string, name: string, rv: string, password = PASSWORD) {
    this.secrets.set(`${ns}/${name}`, {
      metadata: { namespace: ns, name, resourceVersion: rv },
      data: { password: b64(password) },
    });
  }
  /** When set, the next read takes its snapshot at once but answers only when this resolves. */
  gate?: Promise<void>;
  read = async (ns: string, name: string): Promise<Secret> => {
    const key = `${ns}/${name}`;
    this.reads.push(key);
    const gate = this.gate;
    this.gate = undefined;
    const failing = this.failing.has(key);
    const s = structuredClone(this.secrets.get(key));
    await gate;
    if (failing) throw new KubeError(500, 'GET', '/x', '{"message":"etcd timeout"}');
    if (!s) throw new KubeError(404, 'GET', '/x', '{"reason":"NotFound"}');
    return s;
  };
}

const meta = (ns: string, name: string, rv: string) => ({
  kind: 'PartialObjectMetadata',
  metadata: { namespace: ns, name, resourceVersion: rv },
});

let now = 1_000_000;
let caches: SecretCache[] = [];
beforeEach(() => {
  vi.spyOn(Math, 'random').mockReturnValue(1);
  vi.spyOn(Date, 'now').mockImplementation(() => now);
});
afterEach(() => {
  for (const c of caches) c.stop();
  caches = [];
  vi.restoreAllMocks();
});

function setup(opts: { referenced?: (ns: string, name: string) => boolean; versions?: string[] } = {}) {
  const server = new Server();
  const watcher = new FakeWatcher();
  const { log, records } = memoryLogger();
  const changes: string[] = [];
  const versions = [...(opts.versions ?? ['100'])];
  let listed = 0;
  const cache = new SecretCache({
    kube: {} as Kube,
    log,
    onChange: (key) => changes.push(key),
    referenced: opts.referenced,
    watcher,
    read: server.read,
    currentVersion: async () => {
      listed++;
      return versions.shift() ?? '999';
    },
    backoff: { baseMs: 2, maxMs: 100 },
    healthyAfterMs: 1e9,
    sweepEveryMs: 60_000,
  });
  caches.push(cache);
  const started = async () => {
    const p = cache.start();
    const w = await watcher.call(0);
    await w.open();
    await p;
    return w;
  };
  /** Waits until every background read has settled. */
  const settled = () => vi.waitFor(() => expect((cache as any).inflight.size).toBe(0), { timeout: 5000 });
  return { cache, server, watcher, records, changes, started, settled, listed: () => listed };
}

describe('SecretCache: reads only what was asked for', () => {
  it('caches a Secret after one read while the watch is established', async () => {
    const { cache, server, started, settled } = setup();
    server.put('a', 's', '1');
    // Not watching yet: every get reads.
    await cache.get('a', 's');
    await cache.get('a', 's');
    expect(server.reads).toEqual(['a/s', 'a/s']);
    await started();
    expect(cache.isSynced).toBe(true);
    // What was read before the watch began may have changed since: it is read once more.
    await settled();
    expect(server.reads).toEqual(['a/s', 'a/s', 'a/s']);
    const s = await cache.get('a', 's');
    await cache.get('a', 's');
    expect(secretValue(s, 'password')).toBe(PASSWORD);
    expect(server.reads).toHaveLength(3);
    expect(cache.size).toBe(1);
  });

  it('starts the watch from the current resourceVersion, asking for metadata only', async () => {
    const { cache, watcher } = setup({ versions: ['4711'] });
    void cache.start();
    const w = await watcher.call(0);
    expect(w.path).toBe('/api/v1/secrets');
    expect(w.params.resourceVersion).toBe('4711');
  });

  it('ignores events of Secrets nobody asked for, and of cached ones at the cached version', async () => {
    const { cache, server, changes, started } = setup();
    server.put('a', 's', '1');
    const w = await started();
    await cache.get('a', 's');
    w.emit('ADDED', meta('other', 'x', '2'));
    w.emit('MODIFIED', meta('a', 's', '1'));
    w.emit('BOOKMARK', { metadata: { resourceVersion: '3' } });
    expect(server.reads).toEqual(['a/s']);
    expect(changes).toEqual([]);
  });

  it('reads a cached Secret again when its version changes, and reports the change once', async () => {
    const { cache, server, changes, started, settled } = setup();
    server.put('a', 's', '1');
    const w = await started();
    await cache.get('a', 's');
    server.put('a', 's', '2', 'rotated');
    w.emit('MODIFIED', meta('a', 's', '2'));
    await settled();
    expect(changes).toEqual(['a/s']);
    expect(secretValue(await cache.get('a', 's'), 'password')).toBe('rotated');
    expect(server.reads).toEqual(['a/s', 'a/s']);
  });

  it('reports a cached Secret deleted, and one created after a miss', async () => {
    const { cache, server, changes, started, settled } = setup();
    server.put('a', 's', '1');
    const w = await started();
    await cache.get('a', 's');
    expect(await cache.get('a', 'later')).toBeUndefined();
    server.secrets.delete('a/s');
    w.emit('DELETED', meta('a', 's', '5'));
    await settled();
    expect(changes).toEqual(['a/s']);
    expect(await cache.get('a', 's')).toBeUndefined();
    server.put('a', 'later', '6');
    w.emit('ADDED', meta('a', 'later', '6'));
    await settled();
    expect(changes).toEqual(['a/s', 'a/later']);
    expect(secretValue(await cache.get('a', 'later'), 'password')).toBe(PASSWORD);
  });
});

describe('SecretCache: peek', () => {
  it('answers from what the watch keeps current, never reading', async () => {
    const { cache, server, started, settled } = setup();
    server.put('a', 's', '1');
    await cache.get('a', 's');
    expect(cache.peek('a', 's')).toBeUndefined(); // not watched yet: it may have changed
    const w = await started();
    await settled();
    const reads = server.reads.length;
    const s = await cache.get('a', 's');
    expect(cache.peek('a', 's')).toBe(s);
    expect(cache.peek('a', 'never-asked')).toBeUndefined();
    expect(server.reads).toHaveLength(reads);
    server.put('a', 's', '2', 'rotated');
    w.emit('MODIFIED', meta('a', 's', '2'));
    await settled();
    expect(secretValue(cache.peek('a', 's'), 'password')).toBe('rotated');
  });
});

describe('SecretCache: a failed watch', () => {
  it('is not synced when the watch fails before it opened, and start() waits', async () => {
    const { cache, watcher } = setup();
    const p = cache.start();
    (await watcher.call(0)).fail(new TypeError('fetch failed'));
    const w1 = await watcher.call(1);
    expect(cache.isSynced).toBe(false);
    const state = await Promise.race([
      p.then(() => 'resolved'),
      new Promise((r) => setImmediate(() => r('pending'))),
    ]);
    expect(state).toBe('pending');
    await w1.open();
    await p;
    expect(cache.isSynced).toBe(true);
  });

  it('unsyncs at once when an open watch breaks; reads go to the server until it is back, and it resumes from the last version', async () => {
    const { cache, server, watcher, changes, started, settled, listed } = setup();
    server.put('a', 's', '1');
    const w0 = await started();
    await cache.get('a', 's');
    w0.emit('BOOKMARK', { metadata: { resourceVersion: '150' } });
    w0.fail(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    expect(cache.isSynced).toBe(false);
    await cache.get('a', 's');
    expect(server.reads).toEqual(['a/s', 'a/s']);
    const w1 = await watcher.call(1);
    // A watch from the last version replays what happened meanwhile: no new LIST, no reads.
    expect(w1.params.resourceVersion).toBe('150');
    expect(listed()).toBe(1);
    await w1.open();
    expect(cache.isSynced).toBe(true);
    server.put('a', 's', '160', 'rotated while cut');
    w1.emit('MODIFIED', meta('a', 's', '160'));
    await settled();
    expect(changes).toEqual(['a/s']);
  });

  it('after 410 Gone reads every cached Secret again; one failed read does not stop the others and is retried', async () => {
    const { cache, server, watcher, changes, started, settled, records } = setup({
      versions: ['100', '500'],
    });
    for (const n of ['s1', 's2', 's3']) server.put('a', n, '1');
    const w0 = await started();
    for (const n of ['s1', 's2', 's3']) await cache.get('a', n);
    server.put('a', 's1', '400', 'new1');
    server.put('a', 's3', '401', 'new3');
    server.failing.add('a/s1');
    w0.emit('ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
    w0.end();
    const w1 = await watcher.call(1);
    expect(w1.params.resourceVersion).toBe('500');
    await w1.open();
    await settled();
    expect(changes).toEqual(['a/s3']);
    // s1 could not be read: a get() reads it instead of serving the old value.
    server.failing.delete('a/s1');
    expect(secretValue(await cache.get('a', 's1'), 'password')).toBe('new1');
    expect(changes).toEqual(['a/s3', 'a/s1']);
    expect(records.filter((r) => r.level >= 40).map((r) => r.secret)).toEqual(['a/s1']);
  });
});

describe('SecretCache: reads that straddle the start of a watch', () => {
  it('does not trust a read that began before the resourceVersion the watch starts from', async () => {
    const { cache, server, watcher, changes } = setup();
    server.put('a', 's', '1');
    let release!: () => void;
    server.gate = new Promise((r) => (release = r));
    const early = cache.get('a', 's');
    const started = cache.start();
    // The Secret changes after that read's snapshot and before the watch's resourceVersion.
    server.put('a', 's', '2', 'changed before the watch');
    await (await watcher.call(0)).open();
    await started;
    release();
    expect(secretValue(await early, 'password')).toBe(PASSWORD);
    // The watch will never report version 2: the early read is not served from the cache.
    expect(secretValue(await cache.get('a', 's'), 'password')).toBe('changed before the watch');
    expect(changes).toEqual(['a/s']);
  });
});

describe('SecretCache: forgetting', () => {
  it('drops entries nobody references, not ones read within the last period; forget() drops at once', async () => {
    const refs = new Set(['a/kept']);
    const { cache, server, watcher, started } = setup({ referenced: (ns, n) => refs.has(`${ns}/${n}`) });
    for (const n of ['kept', 'unused', 'recent', 'gone']) server.put('a', n, '1');
    const w0 = await started();
    for (const n of ['kept', 'unused', 'gone']) await cache.get('a', n);
    cache.forget('a', 'gone');
    expect(cache.size).toBe(2);
    now += 61_000;
    await cache.get('a', 'recent');
    // A reconnect consults `referenced`.
    w0.end();
    await (await watcher.call(1)).open();
    expect([...(cache as any).cache.keys()].sort()).toEqual(['a/kept', 'a/recent']);
    // Not again within the period, however often it reconnects.
    refs.clear();
    now += 10_000;
    (await watcher.call(1)).end();
    await (await watcher.call(2)).open();
    expect(cache.size).toBe(2);
    now += 61_000;
    (await watcher.call(2)).end();
    await (await watcher.call(3)).open();
    expect(cache.size).toBe(0);
  });
});

describe('SecretCache: quiet', () => {
  it('logs nothing at info when watches end normally or time out, and never a Secret value', async () => {
    const { cache, server, watcher, records, started, settled } = setup();
    server.put('a', 's', '1');
    const w0 = await started();
    await cache.get('a', 's');
    w0.end();
    const w1 = await watcher.call(1);
    await w1.open();
    w1.fail(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    const w2 = await watcher.call(2);
    await w2.open();
    server.put('a', 's', '2', 'other');
    w2.emit('MODIFIED', meta('a', 's', '2'));
    await settled();
    expect(records.filter((r) => r.level >= 30)).toEqual([]);
    const text = JSON.stringify(records);
    for (const v of [PASSWORD, b64(PASSWORD), 'other', b64('other')]) expect(text).not.toContain(v);
  });
});
