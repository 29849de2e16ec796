import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FairFifo } from '../../src/runtime/fair-fifo.ts';
import { WorkQueue } from '../../src/runtime/queue.ts';

describe('namespaces take turns in the work queue', () => {
  it("one team's 50,000 waiting keys do not stand in front of another team's one", async () => {
    const q = new WorkQueue();
    for (let i = 0; i < 50_000; i++) q.add(`big/q-${i}`);
    q.add('small/only');
    const first = [await q.get(), await q.get()];
    expect(first).toContain('small/only');
    for (const k of first) q.done(k!);
    await q.shutdown();
  });

  it('hands out every key once, in order within its namespace, alternating between namespaces', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', ''), fc.nat(1000)), { maxLength: 300 }),
        (adds) => {
          const f = new FairFifo();
          const keys = adds.map(([ns, n], i) => (ns ? `${ns}/${n}-${i}` : `x${i}`));
          for (const k of keys) f.push(k);
          const out: string[] = [];
          for (let k = f.shift(); k !== undefined; k = f.shift()) out.push(k);
          expect(out.length).toBe(keys.length);
          expect([...out].sort()).toEqual([...keys].sort());
          const group = (k: string) => (k.includes('/') ? k.split('/')[0] : '');
          for (const g of ['a', 'b', 'c', ''])
            expect(out.filter((k) => group(k) === g)).toEqual(keys.filter((k) => group(k) === g));
          // While two groups still wait, neither gets two turns in a row.
          for (let i = 1; i < out.length; i++) {
            const rest = new Set(out.slice(i).map(group));
            if (rest.size > 1 && group(out[i]!) === group(out[i - 1]!))
              expect(new Set(out.slice(i - 1).map(group)).size).toBe(1);
          }
          expect(f.length).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});
