import { Kube } from '../../src/runtime/kube.ts';
import { KubeConfig } from '../../src/runtime/kubeconfig.ts';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listMetadata, MetadataWatcher } from '../../src/runtime/metadata.ts';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  server = undefined;
});

/** A loopback HTTP "API server" answering with `handler`, and a kubeconfig pointing at it. */
async function fakeApi(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  server = createServer(handler);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig({
    server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: 'tok',
    source: 'test',
  });
  return new Kube(kc);
}

/** Runs one watch; resolves with what happened. */
function runWatch(w: MetadataWatcher, params: Record<string, unknown> = {}) {
  const events: Array<[string, any]> = [];
  let opened: Promise<AbortController>;
  const ended = new Promise<unknown>((resolve) => {
    opened = w.watch('/api/v1/secrets', params, (t, o) => events.push([t, o]), resolve);
  });
  return { events, opened: opened!, ended };
}

describe('metadata-only list and watch', () => {
  it('lists with the PartialObjectMetadataList Accept header, the token and the params', async () => {
    let seen: IncomingMessage | undefined;
    const kc = await fakeApi((req, res) => {
      seen = req;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '42' }, items: [] }),
      );
    });
    const list = await listMetadata(kc, '/api/v1/secrets', { limit: 1 });
    expect(list.metadata?.resourceVersion).toBe('42');
    expect(seen!.headers.accept).toBe('application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1');
    expect(seen!.headers.authorization).toBe('Bearer tok');
    expect(seen!.url).toBe('/api/v1/secrets?limit=1');
  });

  it('a failed list throws with the status code and the Status message only', async () => {
    const kc = await fakeApi((_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 403, message: 'secrets is forbidden' }));
    });
    await expect(listMetadata(kc, '/api/v1/secrets', {})).rejects.toMatchObject({
      statusCode: 403,
      message: 'GET /api/v1/secrets: 403: secrets is forbidden',
    });
  });

  it('watches with the PartialObjectMetadata Accept header, delivers events split across chunks, ends cleanly', async () => {
    let seen: IncomingMessage | undefined;
    const kc = await fakeApi((req, res) => {
      seen = req;
      res.writeHead(200, { 'content-type': 'application/json' });
      const ev = (type: string, name: string, rv: string) =>
        JSON.stringify({
          type,
          object: { kind: 'PartialObjectMetadata', metadata: { name, resourceVersion: rv } },
        });
      const text = `${ev('ADDED', 'a', '2')}\n${ev('MODIFIED', 'b', '3')}\n`;
      res.write(text.slice(0, 30));
      setImmediate(() => res.end(text.slice(30)));
    });
    const { events, opened, ended } = runWatch(new MetadataWatcher(kc), { resourceVersion: '1' });
    await opened;
    expect(await ended).toBeNull();
    expect(events.map(([t, o]) => `${t} ${o.metadata.name}@${o.metadata.resourceVersion}`)).toEqual([
      'ADDED a@2',
      'MODIFIED b@3',
    ]);
    expect(seen!.headers.accept).toBe('application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1');
    const url = new URL(seen!.url!, 'http://x');
    expect(url.searchParams.get('watch')).toBe('true');
    expect(url.searchParams.get('resourceVersion')).toBe('1');
    expect(url.searchParams.get('timeoutSeconds')).toBe('60');
  });

  it('an HTTP error ends the watch with its status code, and watch() still resolves', async () => {
    const kc = await fakeApi((_req, res) => {
      res.writeHead(410, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 410, message: 'too old resource version' }));
    });
    const { opened, ended } = runWatch(new MetadataWatcher(kc));
    await opened;
    expect(await ended).toMatchObject({ statusCode: 410 });
  });

  it('a connection that sends nothing ends with a TimeoutError', async () => {
    const kc = await fakeApi((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
    });
    const { opened, ended } = runWatch(new MetadataWatcher(kc, { inactivityMs: 50 }));
    await opened;
    expect(await ended).toMatchObject({ name: 'TimeoutError' });
  });

  it('a refused connection ends the watch with an error', async () => {
    const kc = await fakeApi(() => undefined);
    await new Promise((r) => server!.close(r));
    const { opened, ended } = runWatch(new MetadataWatcher(kc));
    await opened;
    expect(await ended).toBeInstanceOf(Error);
  });

  it('abort() from the caller ends it', async () => {
    const kc = await fakeApi((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
    });
    const { opened, ended } = runWatch(new MetadataWatcher(kc));
    (await opened).abort();
    expect(await ended).toMatchObject({ name: 'AbortError' });
  });
});
