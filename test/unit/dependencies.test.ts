import { describe, expect, it } from 'vitest';
import { DependencyIndex } from '../../src/kinds/dependencies.ts';

describe('DependencyIndex', () => {
  it('maps a dependency to the resources waiting on it', () => {
    const idx = new DependencyIndex();
    idx.set('rabbitpermissions|ns/p1', ['res:rabbitusers/ns/jack', 'res:rabbitvhosts/ns/v']);
    idx.set('rabbitpermissions|ns/p2', ['res:rabbitusers/ns/jack']);
    expect(idx.dependents('res:rabbitusers/ns/jack').sort()).toEqual([
      'rabbitpermissions|ns/p1',
      'rabbitpermissions|ns/p2',
    ]);
    expect(idx.dependents('res:rabbitvhosts/ns/v')).toEqual(['rabbitpermissions|ns/p1']);
    expect(idx.dependents('secret:ns/nothing')).toEqual([]);
    expect(idx.size).toBe(2);
  });

  it('set replaces the previous edges, so stale ones disappear', () => {
    const idx = new DependencyIndex();
    idx.set('d', ['a', 'b']);
    idx.set('d', ['b', 'c']);
    expect(idx.dependents('a')).toEqual([]);
    expect(idx.dependents('b')).toEqual(['d']);
    expect(idx.dependents('c')).toEqual(['d']);
    expect(idx.size).toBe(1);
  });

  it('collapses duplicate dependencies', () => {
    const idx = new DependencyIndex();
    idx.set('d', ['a', 'a', 'a']);
    expect(idx.dependents('a')).toEqual(['d']);
  });

  it('clear removes a dependent everywhere and leaves the others', () => {
    const idx = new DependencyIndex();
    idx.set('d1', ['a', 'b']);
    idx.set('d2', ['a']);
    idx.clear('d1');
    expect(idx.dependents('a')).toEqual(['d2']);
    expect(idx.dependents('b')).toEqual([]);
    expect(idx.size).toBe(1);
    idx.clear('d2');
    expect(idx.dependents('a')).toEqual([]);
    expect(idx.size).toBe(0);
    idx.clear('never-seen'); // no-op
    expect(idx.size).toBe(0);
  });

  it('accepts any iterable, including an empty one', () => {
    const idx = new DependencyIndex();
    idx.set('d', new Set(['x']));
    expect(idx.dependents('x')).toEqual(['d']);
    idx.set('d', []);
    expect(idx.dependents('x')).toEqual([]);
  });
});
