import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadline } from '../../src/runtime/deadline.ts';

describe('Deadline', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('aborts its signal with ETIMEDOUT when the time runs out', () => {
    const d = new Deadline(1000);
    vi.advanceTimersByTime(999);
    expect(d.signal.aborted).toBe(false);
    expect(d.expired).toBe(false);
    vi.advanceTimersByTime(1);
    expect(d.signal.aborted).toBe(true);
    expect(d.expired).toBe(true);
    expect(d.signal.reason).toMatchObject({ code: 'ETIMEDOUT', message: 'no answer within 1000 ms' });
  });

  it('leaves no timer behind once cleared', () => {
    const d = new Deadline(1000);
    expect(vi.getTimerCount()).toBe(1);
    d.clear();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(5000);
    expect(d.signal.aborted).toBe(false);
    expect(d.expired).toBe(false);
  });
});
