import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/runtime/duration.ts';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['2h', 7_200_000],
    ['1h2m3s4ms', 3_723_004],
    ['1.5s', 1500],
    ['0s', 0],
    ['10m', 600_000],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '30', 'abc', '5d', '1m 30s', ' 30s', '30s ', '-1s', '30S', 's', '1m30', '1.s'])(
    'rejects %j',
    (text) => {
      expect(() => parseDuration(text)).toThrow(/invalid duration/);
    },
  );
});
