import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { makeLogger } from '../../src/runtime/log.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { log: makeLogger('info', stream), text: () => lines.join('') };
}

describe('log redaction', () => {
  it.each([
    ['top-level password', { password: 'p1-secret' }],
    ['top-level Secret data', { data: { password: 'cDItc2VjcmV0' } }],
    ['nested password', { req: { user: { password: 'p3-secret' } } }],
    ['password hash', { user: { password_hash: 'h4-secret' } }],
    ['authorization header', { err: { options: { headers: { authorization: 'Basic c2VjcmV0' } } } }],
  ])('censors a %s', (_what, obj) => {
    const { log, text } = capture();
    log.info(obj, 'message');
    expect(text()).toContain('[redacted]');
    expect(text()).not.toMatch(/secret|cDIt|c2VjcmV0/);
  });

  it('keeps ordinary fields', () => {
    const { log, text } = capture();
    log.info({ key: 'ns/name', reason: 'Rejected' }, 'not ready');
    expect(JSON.parse(text())).toMatchObject({ key: 'ns/name', reason: 'Rejected', msg: 'not ready' });
  });
});
