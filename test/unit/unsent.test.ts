import { describe, expect, it } from 'vitest';
import { wasNeverSent } from '../../src/runtime/unsent.ts';

describe('wasNeverSent', () => {
  it("is true only for undici's expired keep-alive socket, not for other failures", () => {
    const info = Object.assign(new Error('socket idle timeout'), { code: 'UND_ERR_INFO' });
    expect(wasNeverSent(info)).toBe(true);
    expect(wasNeverSent(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }))).toBe(
      false,
    );
    expect(wasNeverSent(Object.assign(new Error('request aborted'), { code: 'UND_ERR_INFO' }))).toBe(false);
    expect(wasNeverSent(undefined)).toBe(false);
  });
});
