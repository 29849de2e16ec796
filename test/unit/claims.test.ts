import { describe, expect, it } from 'vitest';
import { ClaimIndex } from '../../src/kinds/claims.ts';

const OBJ = 'default/local|vhost:jack_vhost';
const OTHER = 'default/local|vhost:other';

describe('ClaimIndex', () => {
  it('the oldest creationTimestamp owns, whatever the order of arrival', () => {
    const idx = new ClaimIndex();
    idx.set(OBJ, { key: 'ns/young', created: '2024-03-01T00:00:00Z', uid: 'a' });
    idx.set(OBJ, { key: 'ns/old', created: '2024-01-01T00:00:00Z', uid: 'z' });
    idx.set(OBJ, { key: 'ns/middle', created: '2024-02-01T00:00:00Z', uid: 'b' });
    expect(idx.owner(OBJ)?.key).toBe('ns/old');
    expect(idx.claimants(OBJ).sort()).toEqual(['ns/middle', 'ns/old', 'ns/young']);
  });

  it('uid breaks ties between equal timestamps', () => {
    const idx = new ClaimIndex();
    idx.set(OBJ, { key: 'ns/b', created: '2024-01-01T00:00:00Z', uid: 'uid-2' });
    idx.set(OBJ, { key: 'ns/a', created: '2024-01-01T00:00:00Z', uid: 'uid-1' });
    expect(idx.owner(OBJ)?.key).toBe('ns/a');
  });

  it('remove returns the remaining claimants and hands ownership on', () => {
    const idx = new ClaimIndex();
    idx.set(OBJ, { key: 'ns/old', created: '2024-01-01T00:00:00Z', uid: '1' });
    idx.set(OBJ, { key: 'ns/new', created: '2024-02-01T00:00:00Z', uid: '2' });
    expect(idx.remove('ns/old')).toEqual(['ns/new']);
    expect(idx.owner(OBJ)?.key).toBe('ns/new');
    // The last claimant leaving leaves nobody to notify, and no owner.
    expect(idx.remove('ns/new')).toEqual([]);
    expect(idx.owner(OBJ)).toBeUndefined();
    expect(idx.claimants(OBJ)).toEqual([]);
    // Unknown resources are a no-op.
    expect(idx.remove('ns/unknown')).toEqual([]);
  });

  it('set() with a changed object releases the old one and returns its other claimants', () => {
    const idx = new ClaimIndex();
    idx.set(OBJ, { key: 'ns/a', created: '2024-01-01T00:00:00Z', uid: '1' });
    idx.set(OBJ, { key: 'ns/b', created: '2024-02-01T00:00:00Z', uid: '2' });
    expect(idx.owner(OBJ)?.key).toBe('ns/a');

    const released = idx.set(OTHER, { key: 'ns/a', created: '2024-01-01T00:00:00Z', uid: '1' });
    expect(released).toEqual(['ns/b']);
    expect(idx.owner(OBJ)?.key).toBe('ns/b');
    expect(idx.claimants(OBJ)).toEqual(['ns/b']);
    expect(idx.owner(OTHER)?.key).toBe('ns/a');
  });

  it('set() with the same object again releases nothing and does not duplicate', () => {
    const idx = new ClaimIndex();
    idx.set(OBJ, { key: 'ns/a', created: '2024-01-01T00:00:00Z', uid: '1' });
    idx.set(OBJ, { key: 'ns/b', created: '2024-02-01T00:00:00Z', uid: '2' });
    expect(idx.set(OBJ, { key: 'ns/a', created: '2024-01-01T00:00:00Z', uid: '1' })).toEqual([]);
    expect(idx.claimants(OBJ).sort()).toEqual(['ns/a', 'ns/b']);
    expect(idx.owner(OBJ)?.key).toBe('ns/a');
  });

  it('a claimant being deleted gives ownership to the oldest live one, and says who to re-queue', () => {
    const idx = new ClaimIndex();
    idx.set(OBJ, { key: 'ns/old', created: '2024-01-01T00:00:00Z', uid: '1' });
    idx.set(OBJ, { key: 'ns/new', created: '2024-02-01T00:00:00Z', uid: '2' });
    expect(
      idx.set(OBJ, { key: 'ns/old', created: '2024-01-01T00:00:00Z', uid: '1', deleting: true }),
    ).toEqual(['ns/new']);
    expect(idx.owner(OBJ)?.key).toBe('ns/new');
    expect(idx.others(OBJ, 'ns/new').map((c) => c.key)).toEqual(['ns/old']);
    // Everyone deleting: the oldest is the owner again.
    idx.set(OBJ, { key: 'ns/new', created: '2024-02-01T00:00:00Z', uid: '2', deleting: true });
    expect(idx.owner(OBJ)?.key).toBe('ns/old');
  });

  it('an older claimant arriving later takes ownership and the previous owner is re-queued', () => {
    const idx = new ClaimIndex();
    idx.set(OBJ, { key: 'ns/young', created: '2024-03-01T00:00:00Z', uid: 'a' });
    expect(idx.set(OBJ, { key: 'ns/old', created: '2024-01-01T00:00:00Z', uid: 'b' })).toEqual(['ns/young']);
    // A younger one arriving changes no owner: nobody to re-queue.
    expect(idx.set(OBJ, { key: 'ns/younger', created: '2024-04-01T00:00:00Z', uid: 'c' })).toEqual([]);
  });
});
