import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Reasons } from '../../src/api/common.ts';
import { queueKind } from '../../src/kinds/queue.ts';
import { Blocked, Kept } from '../../src/kinds/types.ts';
import { holdsVhost, vhostKind } from '../../src/kinds/vhost.ts';

// Which requests a conditional deletion makes, by queue type and what the broker answers. The
// integration tests (emptiness-deletion.test.ts) show the same with real messages.

interface Answers {
  queue?: { type?: string; messages?: number; consumers?: number };
  waiting?: unknown[];
}

function fakeClient(a: Answers) {
  const calls: string[] = [];
  return {
    calls,
    client: {
      get: vi.fn(async (path: string) => {
        calls.push(`GET ${path}`);
        return a.queue;
      }),
      post: vi.fn(async (path: string, body: { ackmode: string }) => {
        calls.push(`POST ${path} ${body.ackmode}`);
        return a.waiting ?? [];
      }),
      deleteQueue: vi.fn(
        async (_vhost: string, name: string, c?: { ifEmpty?: boolean; ifUnused?: boolean }) => {
          calls.push(`DELETE ${name}${c?.ifEmpty ? ' if-empty' : ''}${c?.ifUnused ? ' if-unused' : ''}`);
          return true;
        },
      ),
    },
  };
}

let broker = 0;
const remove = async (spec: Record<string, unknown>, a: Answers, brokerKey = `ns/b${broker++}`) => {
  const f = fakeClient(a);
  const r = { metadata: { name: 'q', namespace: 'ns' }, spec: { vhost: 'v', ...spec } };
  const outcome = await queueKind.remove!(r as never, { client: f.client, brokerKey } as never).then(
    () => 'deleted',
    (err: unknown) => err,
  );
  return { outcome, calls: f.calls };
};
const heldWith = (outcome: unknown, text: string) => {
  expect(outcome).toBeInstanceOf(Blocked);
  expect((outcome as Blocked).reason).toBe(Reasons.DeleteFailed);
  expect((outcome as Blocked).message).toContain(text);
};

describe('RabbitQueue deletion with deleteIfEmpty / deleteIfUnused', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['Date'] }));
  afterEach(() => vi.useRealTimers());

  it('without conditions: one unconditional DELETE, nothing read first', async () => {
    expect(await remove({}, {})).toEqual({ outcome: 'deleted', calls: ['DELETE q'] });
  });

  it('classic: the broker checks both conditions itself, with the deletion', async () => {
    const { outcome, calls } = await remove(
      { deleteIfEmpty: true, deleteIfUnused: true },
      { queue: { type: 'classic', messages: 0 } },
    );
    expect(outcome).toBe('deleted');
    expect(calls).toEqual(['GET /api/queues/v/q', 'DELETE q if-empty if-unused']);
  });

  it('a queue already gone: nothing to delete', async () => {
    expect((await remove({ deleteIfEmpty: true }, {})).calls).toEqual(['GET /api/queues/v/q']);
  });

  it('quorum, counters at 0 and nothing waiting: checked at the source, then deleted without the flags', async () => {
    const { outcome, calls } = await remove({ deleteIfEmpty: true }, { queue: { type: 'quorum' } });
    expect(outcome).toBe('deleted');
    expect(calls).toEqual(['GET /api/queues/v/q', 'POST /api/queues/v/q/get ack_requeue_true', 'DELETE q']);
  });

  it('quorum, counters at 0 but a message waiting: held, not deleted; not checked again until the counters caught up', async () => {
    const key = 'ns/probe';
    const answers = { queue: { type: 'quorum', messages: 0 }, waiting: [{ payload_bytes: 1 }] };
    const first = await remove({ deleteIfEmpty: true }, answers, key);
    heldWith(first.outcome, "quorum queue 'q' is not empty");
    expect(first.calls).toEqual(['GET /api/queues/v/q', 'POST /api/queues/v/q/get ack_requeue_true']);

    vi.advanceTimersByTime(5_000);
    const again = await remove({ deleteIfEmpty: true }, { ...answers, waiting: [] }, key);
    heldWith(again.outcome, 'a message was waiting 5 s ago');
    expect(again.calls).toEqual(['GET /api/queues/v/q']);

    vi.advanceTimersByTime(10_000);
    const later = await remove({ deleteIfEmpty: true }, { ...answers, waiting: [] }, key);
    expect(later.outcome).toBe('deleted');
    expect(later.calls).toEqual([
      'GET /api/queues/v/q',
      'POST /api/queues/v/q/get ack_requeue_true',
      'DELETE q',
    ]);
  });

  it('quorum, counters showing messages: held without touching them', async () => {
    const { outcome, calls } = await remove(
      { deleteIfEmpty: true },
      { queue: { type: 'quorum', messages: 3 } },
    );
    heldWith(outcome, "quorum queue 'q' is not empty (3 messages)");
    expect(calls).toEqual(['GET /api/queues/v/q']);
  });

  it('quorum with deleteIfUnused: held while the counter shows consumers, deleted without flags otherwise', async () => {
    const busy = await remove({ deleteIfUnused: true }, { queue: { type: 'quorum', consumers: 1 } });
    heldWith(busy.outcome, "quorum queue 'q' has 1 consumer and deleteIfUnused is set");
    const idle = await remove({ deleteIfUnused: true }, { queue: { type: 'quorum', consumers: 0 } });
    expect(idle).toEqual({ outcome: 'deleted', calls: ['GET /api/queues/v/q', 'DELETE q'] });
  });

  it('stream with deleteIfEmpty: held, never sent the flag the broker ignores', async () => {
    const { outcome, calls } = await remove(
      { deleteIfEmpty: true },
      { queue: { type: 'stream', messages: 0 } },
    );
    heldWith(outcome, "queue 'q' is a stream and deleteIfEmpty is set");
    expect(calls).toEqual(['GET /api/queues/v/q']);
  });

  it('stream with deleteIfUnused only: the consumer counter decides', async () => {
    const { outcome, calls } = await remove({ deleteIfUnused: true }, { queue: { type: 'stream' } });
    expect(outcome).toBe('deleted');
    expect(calls).toEqual(['GET /api/queues/v/q', 'DELETE q']);
  });
});

describe('RabbitVhost deletion and the queues no resource declares', () => {
  const row = (name: string, exclusive: boolean) =>
    ({
      name,
      vhost: 'v',
      type: 'classic',
      durable: !exclusive,
      auto_delete: false,
      exclusive,
      arguments: {},
    }) as const;

  it('server-named queues count unless exclusive', () => {
    expect(holdsVhost(row('amq.gen-durable', false))).toBe(true);
    expect(holdsVhost({ ...row('amq.gen-transient', false), durable: false, auto_delete: true })).toBe(true);
    expect(holdsVhost(row('amq.gen-reply', true))).toBe(false);
    expect(holdsVhost(row('reply-7', true))).toBe(false);
    expect(holdsVhost(row('celery', false))).toBe(true);
  });

  it('a vhost holding a durable amq.gen- queue is kept, one holding only exclusive queues deleted', async () => {
    const run = async (rows: unknown[]) => {
      const deleted: string[] = [];
      const client = {
        listQueues: async () => rows,
        capabilities: async () => ({ deletionProtection: false }),
        deleteVhost: async (name: string) => void deleted.push(name),
      };
      const r = { metadata: { name: 'v', namespace: 'ns' }, spec: { name: 'v' } };
      const outcome = await vhostKind.remove!(r as never, { client } as never).then(
        () => 'deleted',
        (err: unknown) => err,
      );
      return { outcome, deleted };
    };
    const kept = await run([row('amq.gen-abc', false), row('amq.gen-reply', true)]);
    expect(kept.outcome).toBeInstanceOf(Kept);
    expect((kept.outcome as Kept).message).toContain("'amq.gen-abc'");
    expect((kept.outcome as Kept).message).not.toContain('amq.gen-reply');
    expect(kept.deleted).toEqual([]);
    expect(await run([row('amq.gen-reply', true), row('reply-7', true)])).toEqual({
      outcome: 'deleted',
      deleted: ['v'],
    });
  });
});
