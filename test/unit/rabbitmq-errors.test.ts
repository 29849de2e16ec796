import { describe, expect, it } from 'vitest';
import {
  categorize,
  errorFromNoResponse,
  errorFromResponse,
  ManagementError,
  reasonFromBody,
  redact,
} from '../../src/rabbitmq/errors.ts';

const body = (error: unknown, reason: unknown) => JSON.stringify({ error, reason });

describe('categorize', () => {
  it.each([
    [401, 'Login failed', 'Unauthorized'],
    [401, 'Not administrator user', 'Unauthorized'],
    [401, 'Not management user', 'Unauthorized'],
    [401, 'User can only log in via localhost', 'Unauthorized'],
    [401, 'Access refused.', 'Rejected'],
    [401, 'User not authorised to access virtual host', 'Rejected'],
    [404, 'Not Found', 'NotFound'],
    [404, 'vhost_not_found', 'NotFound'],
    [400, "inequivalent arg 'durable'", 'Rejected'],
    [405, 'Method Not Allowed', 'Rejected'],
    [412, 'protected from deletion', 'Rejected'],
    [500, 'invalid_queue_type', 'ServerError'],
    [503, 'Service Unavailable', 'ServerError'],
  ] as const)('%i %s → %s', (status, reason, category) => {
    expect(categorize(status, reason)).toBe(category);
  });
});

describe('reasonFromBody', () => {
  it('reads the reason', () => {
    expect(reasonFromBody(body('not_found', 'Not Found'))).toBe('Not Found');
  });

  it('decodes the 3.10.8 char-code error and puts it first', () => {
    const codes = [...'Error occured while adding vhost'].map((c) => c.charCodeAt(0));
    expect(reasonFromBody(body(codes, 'invalid_queue_type'))).toBe(
      'Error occured while adding vhost: invalid_queue_type',
    );
  });

  it('stringifies a structured reason', () => {
    expect(reasonFromBody(body('bad_request', ['no_such_user', 'x']))).toBe('["no_such_user","x"]');
  });

  it('falls back to error, a short plain body, then the status message', () => {
    expect(reasonFromBody(JSON.stringify({ error: 'not_json' }))).toBe('not_json');
    expect(reasonFromBody('upstream timeout', 'Bad Gateway')).toBe('upstream timeout');
    expect(reasonFromBody('', 'Internal Server Error')).toBe('Internal Server Error');
    expect(reasonFromBody('<html>proxy</html>', 'Bad Gateway')).toBe('Bad Gateway');
    expect(reasonFromBody('')).toBe('no reason given');
  });
});

describe('errorFromResponse', () => {
  it('makes a readable one-line message', () => {
    const err = errorFromResponse(
      'PUT',
      '/api/queues/%2F/q',
      400,
      body(
        'bad_request',
        "inequivalent arg 'durable' for queue 'q' in vhost '/': received 'false' but current is 'true'",
      ),
    );
    expect(err).toBeInstanceOf(ManagementError);
    expect(err).toMatchObject({
      status: 400,
      category: 'Rejected',
      method: 'PUT',
      path: '/api/queues/%2F/q',
    });
    expect(err.message).toBe(
      "PUT /api/queues/%2F/q: 400 inequivalent arg 'durable' for queue 'q' in vhost '/': received 'false' but current is 'true'",
    );
    const multi = errorFromResponse(
      'PUT',
      '/api/x',
      400,
      body('bad_request', 'Validation failed\n\nbad  thing\n'),
    );
    expect(multi.message).toBe('PUT /api/x: 400 Validation failed bad thing');
  });

  it('maps 401 by reason', () => {
    expect(
      errorFromResponse('GET', '/api/overview', 401, body('not_authorized', 'Login failed')).category,
    ).toBe('Unauthorized');
    expect(
      errorFromResponse('PUT', '/api/queues/v/amq.x', 401, body('not_authorised', 'Access refused.'))
        .category,
    ).toBe('Rejected');
  });

  it('redacts secrets the broker echoes', () => {
    const err = errorFromResponse(
      'PUT',
      '/api/users/u',
      400,
      body('bad_request', '["not_base64","c2VjcmV0aGFzaA"]'),
      {
        secrets: ['c2VjcmV0aGFzaA'],
      },
    );
    expect(err.message).not.toContain('c2VjcmV0aGFzaA');
    expect(err.reason).toBe('["not_base64","***"]');
  });
});

describe('errorFromNoResponse', () => {
  it('is Unreachable with the network code and no status', () => {
    const err = errorFromNoResponse('GET', '/api/overview', {
      code: 'ECONNREFUSED',
      message: 'connect ECONNREFUSED 127.0.0.1:1',
    });
    expect(err).toMatchObject({ category: 'Unreachable', status: undefined, code: 'ECONNREFUSED' });
    expect(err.message).toBe('GET /api/overview: unreachable (connect ECONNREFUSED 127.0.0.1:1)');
  });

  it('redacts secrets in the cause', () => {
    const err = errorFromNoResponse('GET', '/api/x', { message: 'failed for hunter2' }, ['hunter2']);
    expect(err.message).toBe('GET /api/x: unreachable (failed for ***)');
  });
});

describe('redact', () => {
  it('replaces every occurrence and ignores empty secrets', () => {
    expect(redact('a-pw-b-pw', ['pw', ''])).toBe('a-***-b-***');
  });
});

describe('TLS alerts from the broker', () => {
  it('are shortened to the alert and what to do', async () => {
    const { tlsAlert } = await import('../../src/rabbitmq/errors.ts');
    expect(
      tlsAlert(
        '40DD26477D7F0000:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:918:SSL alert number 116',
      ),
    ).toBe(
      "TLS handshake refused by the broker, alert 'certificate required': the broker requires a client certificate (spec.tls.clientCertificateSecretRef)",
    );
    expect(
      tlsAlert(
        '40DD:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:../deps/x.c:918:SSL alert number 48',
      ),
    ).toBe(
      "TLS handshake refused by the broker, alert 'unknown ca': the broker does not accept the client certificate",
    );
    expect(tlsAlert('connect ECONNREFUSED 127.0.0.1:1')).toBe('connect ECONNREFUSED 127.0.0.1:1');
  });
});
