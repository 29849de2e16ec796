import { describe, expect, it } from 'vitest';
import { markerVerdict, type Marker } from '../../src/kinds/survey.ts';

// The broker marker tells a wiped broker from a quiet one. Each survey reads it (and writes one
// when missing); these are the orders two surveys' reads and writes can come in.
describe('broker marker', () => {
  const first = markerVerdict(undefined, 'a', true);

  it('a first survey that writes the marker sees no reset', () => {
    expect(first).toEqual({ reset: false, remember: { value: 'a', ours: true } });
  });

  it('the same marker again is no reset', () => {
    const again = markerVerdict(first.remember, 'a', false);
    expect(again).toEqual({ reset: false, remember: { value: 'a', ours: false } });
    expect(markerVerdict(again.remember, 'a', false).reset).toBe(false);
  });

  it('a marker gone since the last survey is a reset, whoever wrote it', () => {
    expect(markerVerdict(first.remember, 'b', true).reset).toBe(true);
    expect(markerVerdict({ value: 'a', ours: false }, 'b', true).reset).toBe(true);
  });

  it('a marker replaced after it was read back is a reset', () => {
    expect(markerVerdict({ value: 'a', ours: false }, 'b', false).reset).toBe(true);
  });

  it('two surveys that both wrote a marker to a new broker: the overwritten one adopts the other', () => {
    // Both found none; A wrote a, then B wrote b over it.
    const a = markerVerdict(undefined, 'a', true);
    const b = markerVerdict(undefined, 'b', true);
    const aNext = markerVerdict(a.remember, 'b', false);
    const bNext = markerVerdict(b.remember, 'b', false);
    expect(aNext.reset).toBe(false);
    expect(bNext.reset).toBe(false);
    // From then on both hold the same read-back value: a later change is a reset for both.
    expect(markerVerdict(aNext.remember, 'c', false).reset).toBe(true);
    expect(markerVerdict(bNext.remember, 'c', false).reset).toBe(true);
  });

  it('never says reset on a first sight', () => {
    const seen: Marker | undefined = undefined;
    expect(markerVerdict(seen, 'x', false).reset).toBe(false);
  });
});
