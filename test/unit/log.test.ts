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

describe('LOG_FORMAT', () => {
  const lines = (format?: 'json' | 'text') => {
    const out: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        out.push(String(chunk));
        cb();
      },
    });
    const log = makeLogger('debug', stream, format);
    return { log, out };
  };

  it('is JSON by default: numeric levels, epoch milliseconds', () => {
    const { log, out } = lines();
    log.info({ key: 'ns/a' }, 'hello');
    const o = JSON.parse(out[0]!);
    expect(o).toMatchObject({ level: 30, msg: 'hello', key: 'ns/a', app: 'warren' });
    expect(typeof o.time).toBe('number');
  });

  it('text: ISO time, string level, the message, then the fields, one line each', () => {
    const { log, out } = lines('text');
    log.info({ controller: 'rabbitqueue', key: 'ns/hello' }, 'applied to the broker');
    log.warn({ detail: 'vhost "v" is missing', n: 3, nested: { a: 1 } }, 'not ready');
    log.child({ generation: 2 }).debug('x');
    expect(out).toHaveLength(3);
    expect(out[0]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}applied to the broker controller=rabbitqueue key=ns\/hello\n$/,
    );
    expect(out[1]).toMatch(/ WARN {2}not ready detail="vhost \\"v\\" is missing" n=3 nested=\{"a":1\}\n$/);
    expect(out[2]).toMatch(/ DEBUG x generation=2\n$/);
    expect(out.join('')).not.toContain('"level"');
  });

  it('text redacts as JSON does', () => {
    const { log, out } = lines('text');
    log.error({ req: { user: { password: 'p3-secret' } } }, 'failed');
    expect(out[0]).toContain('[redacted]');
    expect(out[0]).not.toContain('p3-secret');
    expect(out[0]).toMatch(/ ERROR failed /);
  });

  it('follows LOG_FORMAT from the environment when not given', () => {
    const before = process.env.LOG_FORMAT;
    process.env.LOG_FORMAT = 'text';
    try {
      const out: string[] = [];
      const stream = new Writable({
        write(chunk, _enc, cb) {
          out.push(String(chunk));
          cb();
        },
      });
      makeLogger('info', stream).info('hi');
      expect(out[0]).toMatch(/Z INFO {2}hi\n$/);
    } finally {
      if (before === undefined) delete process.env.LOG_FORMAT;
      else process.env.LOG_FORMAT = before;
    }
  });
});
