import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Resource } from '../../src/api/common.ts';
import { Recorder, eventName, truncateBytes } from '../../src/runtime/events.ts';
import type { Kube } from '../../src/runtime/kube.ts';

// What the API server checks (pkg/apis/core/validation/events.go): a DNS subdomain name of at
// most 253 characters; reason, action and reportingInstance at most 128 bytes, note 1024 bytes.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const bytes = (s: string) => Buffer.byteLength(s);

/** The Event bodies a Recorder sends. */
function recorder(instance = 'warren-0') {
  const sent: any[] = [];
  const kube = { create: async (_path: string, body: unknown) => sent.push(body) } as unknown as Kube;
  return { rec: new Recorder(kube, instance, pino({ level: 'silent' })), sent };
}

const queue = (name: string): Resource => ({
  apiVersion: 'warren.dev/v1alpha1',
  kind: 'RabbitQueue',
  metadata: { name, namespace: 'ns', uid: 'u-1', resourceVersion: '7' } as Resource['metadata'],
  spec: {},
});

function expectValid(e: any) {
  expect(e.metadata.name.length).toBeLessThanOrEqual(253);
  expect(e.metadata.name).toMatch(DNS_SUBDOMAIN);
  for (const f of ['reason', 'action', 'reportingInstance']) {
    expect(e[f].length, f).toBeGreaterThan(0);
    expect(bytes(e[f]), f).toBeLessThanOrEqual(128);
  }
  expect(bytes(e.note)).toBeLessThanOrEqual(1024);
  expect(e.note).not.toContain('\uFFFD');
}

describe('events fit what the API server accepts', () => {
  it('names an event of a 253-character resource within 253 characters, still regarding the full name', async () => {
    const { rec, sent } = recorder();
    for (const name of ['a'.repeat(253), `${'b'.repeat(230)}.${'c'.repeat(22)}`, `${'d'.repeat(236)}-x.y`])
      await rec.emit(queue(name), 'Warning', 'Rejected', 'Reconcile', 'no');
    expect(sent).toHaveLength(3);
    for (const e of sent) expectValid(e);
    expect(sent.map((e) => e.regarding.name)).toEqual([
      'a'.repeat(253),
      `${'b'.repeat(230)}.${'c'.repeat(22)}`,
      `${'d'.repeat(236)}-x.y`,
    ]);
  });

  it('keeps short names as <name>.<unique>', async () => {
    const { rec, sent } = recorder();
    await rec.emit(queue('orders'), 'Normal', 'Reconciled', 'Reconcile', 'ok');
    expect(sent[0].metadata.name).toMatch(/^orders\.[0-9a-f]+$/);
  });

  it('cuts a long non-ASCII note to 1024 bytes between code points, marking the cut', async () => {
    const { rec, sent } = recorder();
    const notes = ['é'.repeat(1000), '😀'.repeat(400), `x${'日本'.repeat(300)}`, 'a'.repeat(5000)];
    for (const note of notes) await rec.emit(queue('q'), 'Warning', 'Rejected', 'Reconcile', note);
    for (const [i, e] of sent.entries()) {
      expectValid(e);
      expect(e.note.endsWith('…')).toBe(true);
      expect(notes[i]!.startsWith(e.note.slice(0, -1))).toBe(true);
      // As much as fits: within one code point and the mark of the limit.
      expect(bytes(e.note)).toBeGreaterThan(1024 - 4);
    }
  });

  it('cuts reason, action and reporting instance by bytes, and never sends them empty', async () => {
    const { rec, sent } = recorder('ü'.repeat(100));
    await rec.emit(queue('q'), 'Warning', 'Ré'.repeat(100), 'Ä'.repeat(200), 'n');
    await rec.emit(queue('q'), 'Warning', '', '', 'n');
    for (const e of sent) expectValid(e);
    expect(sent[0].reason.startsWith('Ré')).toBe(true);
  });

  it('sends notes that fit unchanged', async () => {
    const { rec, sent } = recorder();
    const fits = 'é'.repeat(512);
    await rec.emit(queue('q'), 'Warning', 'Rejected', 'Reconcile', fits);
    expect(sent[0].note).toBe(fits);
  });
});

describe('truncateBytes', () => {
  it('never splits a code point, and counts the mark', () => {
    expect(truncateBytes('abc', 3)).toBe('abc');
    expect(truncateBytes('abcd', 3)).toBe('…');
    expect(truncateBytes('abcdef', 5)).toBe('ab…');
    expect(truncateBytes('ééé', 5)).toBe('é…');
    expect(truncateBytes('ééé', 4)).toBe('…'); // one byte left: half an é is not sent
    expect(truncateBytes('éééé', 7)).toBe('éé…');
    expect(truncateBytes('😀😀', 7)).toBe('😀…');
    expect(truncateBytes('😀😀', 6)).toBe('…');
  });
});

describe('eventName', () => {
  it('tells apart long names that share their first 226 characters', () => {
    const a = eventName(`${'q'.repeat(240)}-one`, '18f0a1b2c3d4abcd');
    const b = eventName(`${'q'.repeat(240)}-two`, '18f0a1b2c3d4abcd');
    expect(a).not.toBe(b);
    expect(a.length).toBeLessThanOrEqual(253);
    expect(a).toMatch(DNS_SUBDOMAIN);
  });
});
