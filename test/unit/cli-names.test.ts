import { describe, expect, it } from 'vitest';
import { assignNames, kubeName, type Nameable } from '../../src/cli/names.ts';

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

describe('kubeName', () => {
  it('keeps letters and digits, lower case, with single dashes between', () => {
    expect(kubeName('jack_vhost')).toBe('jack-vhost');
    expect(kubeName('orders.created.#')).toBe('orders-created');
    expect(kubeName('Billing.Service')).toBe('billing-service');
    expect(kubeName('billing/eu')).toBe('billing-eu');
    expect(kubeName('Été à Paris')).toBe('ete-a-paris');
    expect(kubeName('--x--')).toBe('x');
    expect(kubeName('/')).toBe('');
    expect(kubeName('日本')).toBe('');
  });
});

const item = (id: string, parts: string[], qualifier?: string): Nameable => ({
  id,
  parts,
  qualifier,
  fallback: 'queue',
});

describe('assignNames', () => {
  it('uses the plain name when nothing collides', () => {
    const names = assignNames([item('a', ['hello']), item('b', ['orders.created'])]);
    expect([...names.values()]).toEqual(['hello', 'orders-created']);
  });

  it('tells colliding names apart by their qualifier, then by a hash of their identity', () => {
    const items = [
      item('q1', ['celery'], 'a'),
      item('q2', ['celery'], 'b'),
      item('q3', ['Celery'], '/'), // no usable qualifier
      item('q4', ['dead_letters'], 'x'),
      item('q5', ['dead.letters'], 'x'), // same qualifier: only the hash tells them apart
    ];
    const names = assignNames(items);
    expect(names.get('q1')).toBe('a-celery');
    expect(names.get('q2')).toBe('b-celery');
    expect(names.get('q3')).toMatch(/^celery-[0-9a-f]{6}$/);
    expect(names.get('q4')).toMatch(/^x-dead-letters-[0-9a-f]{6}$/);
    expect(names.get('q5')).toMatch(/^x-dead-letters-[0-9a-f]{6}$/);
    expect(new Set(names.values()).size).toBe(items.length);
  });

  it('does not depend on the order of the objects', () => {
    const items = [
      item('1', ['a-b']),
      item('2', ['b'], 'a'),
      item('3', ['b'], 'c'),
      item('4', ['x'], 'v'),
      item('5', ['X'], 'w'),
      item('6', ['/']),
    ];
    const once = assignNames(items);
    for (let i = 0; i < 10; i++) {
      const shuffled = [...items].sort(() => Math.random() - 0.5);
      expect(Object.fromEntries(assignNames(shuffled))).toEqual(Object.fromEntries(once));
    }
    // A qualified name that meets a plain one: both get hashes.
    expect(once.get('1')).toMatch(/^a-b-[0-9a-f]{6}$/);
    expect(once.get('2')).toMatch(/^a-b-[0-9a-f]{6}$/);
    expect(once.get('1')).not.toBe(once.get('2'));
    expect(once.get('3')).toBe('c-b');
    expect(once.get('6')).toMatch(/^queue-[0-9a-f]{6}$/);
  });

  it('keeps every name a DNS-1123 label of at most 63 characters', () => {
    const long = 'x'.repeat(300);
    const items = [
      item('l1', [long]),
      item('l2', [long + 'y']),
      item('l3', ['orders', long], 'v'),
      item('e', ['---']),
      item('u', ['Ünïcödé_Queue!']),
    ];
    const names = assignNames(items);
    for (const n of names.values()) expect(n).toMatch(LABEL);
    expect(new Set(names.values()).size).toBe(items.length);
    expect(names.get('u')).toBe('unicode-queue');
  });
});
