import { describe, expect, it } from 'vitest';
import {
  capabilities,
  compareVersions,
  normalizeQueueArguments,
  parseVersion,
  queueListColumns,
  queueTypeFromArguments,
} from '../../src/rabbitmq/versions.ts';

describe('parseVersion', () => {
  it('parses release, pre-release and build versions', () => {
    expect(parseVersion('3.10.8')).toEqual({ major: 3, minor: 10, patch: 8 });
    expect(parseVersion('4.2.0-rc.1')).toEqual({ major: 4, minor: 2, patch: 0 });
    expect(parseVersion('3.13.7+2.g1234')).toEqual({ major: 3, minor: 13, patch: 7 });
    expect(parseVersion('4.1')).toEqual({ major: 4, minor: 1, patch: 0 });
  });

  it('rejects garbage', () => {
    expect(() => parseVersion('latest')).toThrow(RangeError);
  });

  it('orders numerically, not lexically', () => {
    expect(compareVersions(parseVersion('3.10.0'), parseVersion('3.9.29'))).toBeGreaterThan(0);
  });
});

describe('capabilities', () => {
  it('describes 3.10.8 (the test broker)', () => {
    const c = capabilities('3.10.8');
    expect(c).toMatchObject({
      queueTypeAlwaysInArguments: false,
      queueTypeIsBasicColumn: false,
      haPolicyKeysRejected: false,
      deletionProtection: false,
      transientNonExclusiveQueuesDenied: false,
      vhostDqtSnakeCaseKey: false,
      vhostDqtUpdatable: false,
      vhostPutWithoutDqt: 'ignored',
      vhostPutWithoutDqtResets: false,
      vhostDqtUnsetIsUndefinedString: true,
    });
  });

  it('follows the version table', () => {
    const row = (v: string) => {
      const c = capabilities(v);
      return [
        c.queueTypeAlwaysInArguments,
        c.queueTypeIsBasicColumn,
        c.haPolicyKeysRejected,
        c.deletionProtection,
        c.transientNonExclusiveQueuesDenied,
        c.vhostPutWithoutDqt,
      ];
    };
    expect(row('3.11.12')).toEqual([false, false, false, false, false, 'ignored']);
    expect(row('3.11.17')).toEqual([false, false, false, false, false, 'clears']);
    expect(row('3.13.7')).toEqual([false, false, false, false, false, 'clears']);
    expect(row('4.0.5')).toEqual([true, false, true, false, false, 'keeps']);
    expect(row('4.1.0')).toEqual([true, false, true, true, false, 'keeps']);
    expect(row('4.2.0')).toEqual([true, true, true, true, false, 'resetsToNodeDefault']);
    expect(row('4.3.0')).toEqual([true, true, true, true, true, 'resetsToNodeDefault']);
  });

  it('marks the versions where a PUT without default queue type changes it', () => {
    expect(capabilities('3.12.0').vhostPutWithoutDqtResets).toBe(true);
    expect(capabilities('4.1.2').vhostPutWithoutDqtResets).toBe(false);
    expect(capabilities('4.2.1').vhostPutWithoutDqtResets).toBe(true);
  });

  it('accepts a parsed version', () => {
    expect(capabilities(parseVersion('4.0.0')).queueTypeAlwaysInArguments).toBe(true);
  });
});

describe('queue columns and type', () => {
  it('asks for type only where it is a basic column', () => {
    expect(queueListColumns(capabilities('3.10.8'))).not.toContain('type');
    expect(queueListColumns(capabilities('4.2.0'))).toContain('type');
  });

  it('derives the type from arguments, defaulting to classic', () => {
    expect(queueTypeFromArguments({ 'x-queue-type': 'quorum' })).toBe('quorum');
    expect(queueTypeFromArguments({})).toBe('classic');
    expect(queueTypeFromArguments(undefined)).toBe('classic');
  });
});

describe('normalizeQueueArguments', () => {
  const v4 = capabilities('4.0.0');
  const v3 = capabilities('3.10.8');

  it('drops a server-added x-queue-type equal to the effective type', () => {
    expect(normalizeQueueArguments({ 'x-queue-type': 'classic' }, 'classic', v4)).toEqual({});
    expect(normalizeQueueArguments({ 'x-queue-type': 'quorum', 'x-max-length': 5 }, 'quorum', v3)).toEqual({
      'x-max-length': 5,
    });
  });

  it('keeps a differing x-queue-type and every other argument', () => {
    expect(normalizeQueueArguments({ 'x-queue-type': 'quorum' }, 'classic', v4)).toEqual({
      'x-queue-type': 'quorum',
    });
    expect(normalizeQueueArguments({ 'x-max-length': '10' }, 'classic', v4)).toEqual({
      'x-max-length': '10',
    });
  });

  it('makes desired and actual compare equal across versions', () => {
    const desired = normalizeQueueArguments({ 'x-max-length': 10 }, 'classic', v4);
    const actual = normalizeQueueArguments({ 'x-max-length': 10, 'x-queue-type': 'classic' }, 'classic', v4);
    expect(actual).toEqual(desired);
  });

  it('sorts keys for stable comparison', () => {
    expect(Object.keys(normalizeQueueArguments({ b: 1, a: 2 }, 'classic', v3))).toEqual(['a', 'b']);
    expect(normalizeQueueArguments(undefined, 'classic', v3)).toEqual({});
  });
});
