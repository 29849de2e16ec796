import { describe, expect, it } from 'vitest';
import { api, segment } from '../../src/rabbitmq/path.ts';

describe('api path template', () => {
  it('encodes the default vhost', () => {
    expect(api`/queues/${'/'}/${'q'}`).toBe('/api/queues/%2F/q');
  });

  it('encodes every interpolated value as one segment', () => {
    expect(api`/queues/${'a/b c'}/${'x#?%'}`).toBe('/api/queues/a%2Fb%20c/x%23%3F%25');
    expect(api`/vhosts/${'été'}`).toBe('/api/vhosts/%C3%A9t%C3%A9');
    expect(api`/queues/${'/'}/${'a+b'}`).toBe('/api/queues/%2F/a%2Bb');
  });

  it('keeps the literal parts and accepts numbers', () => {
    expect(api`/overview`).toBe('/api/overview');
    expect(api`/x/${1}/y`).toBe('/api/x/1/y');
  });

  it('refuses names the broker resolves away', () => {
    for (const bad of ['.', '..', '']) {
      expect(() => api`/queues/${'/'}/${bad}`).toThrow(RangeError);
    }
    expect(segment('..x')).toBe('..x');
  });
});
