import { describe, expect, it } from 'vitest';
import { applyLimits, limitsMatch, sameAsLastTime, sameSet } from '../../src/kinds/compare.ts';

describe('limits', () => {
  it('match when set ones are equal and unset ones are absent or -1', () => {
    expect(limitsMatch({ a: 5, b: undefined }, { a: 5 })).toBe(true);
    expect(limitsMatch({ a: 5, b: undefined }, { a: 5, b: -1 })).toBe(true);
    expect(limitsMatch({ a: 5, b: undefined }, { a: 5, b: 3 })).toBe(false);
    expect(limitsMatch({ a: 5 }, { a: 6 })).toBe(false);
    expect(limitsMatch({ a: 0 }, {})).toBe(false);
  });

  it('write only what differs: put changed ones, remove ones dropped from the spec', async () => {
    const calls: string[] = [];
    const put = async (n: string, v: number) => calls.push(`put ${n}=${v}`);
    const del = async (n: string) => calls.push(`delete ${n}`);
    expect(await applyLimits({ a: 5, b: undefined, c: 1 }, { a: 5, b: 7, c: 2 }, put, del)).toBe(true);
    expect(calls).toEqual(['delete b', 'put c=1']);
    calls.length = 0;
    expect(await applyLimits({ a: 5, b: undefined }, { a: 5, b: -1 }, put, del)).toBe(false);
    expect(calls).toEqual([]);
  });
});

describe('sameSet', () => {
  it('ignores order, not content', () => {
    expect(sameSet(['a', 'b'], ['b', 'a'])).toBe(true);
    expect(sameSet(['a'], ['a', 'a'])).toBe(false);
    expect(sameSet([], [])).toBe(true);
    expect(sameSet(['a'], ['b'])).toBe(false);
  });
});

describe('sameAsLastTime', () => {
  it('compares again only when the resource or an input is another object', () => {
    let calls = 0;
    const check = (r: object, inputs: unknown[], result: boolean) =>
      sameAsLastTime(r, inputs, () => (calls++, result));
    const r = { spec: 1 };
    const row = { durable: true };
    const caps = {};
    expect(check(r, [row, caps], true)).toBe(true);
    expect(check(r, [row, caps], false)).toBe(true); // remembered: not compared again
    expect(calls).toBe(1);
    expect(check(r, [{ durable: true }, caps], false)).toBe(false); // an equal but new row
    expect(calls).toBe(2);
    expect(check({ spec: 1 }, [row, caps], true)).toBe(true); // a new resource object
    expect(check(r, [row], true)).toBe(true); // other inputs
    expect(calls).toBe(4);
  });
});
