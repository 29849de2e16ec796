// Errors from the management API, classified so the reconciler can decide what to do (retry, report,
// give up) without parsing text.

export type ManagementErrorCategory =
  'Unreachable' | 'Untrusted' | 'Unauthorized' | 'NotFound' | 'Rejected' | 'ServerError';

export interface ManagementErrorInit {
  method: string;
  path: string;
  status?: number;
  reason: string;
  category: ManagementErrorCategory;
  /** Node error code when there was no response (ECONNREFUSED, ETIMEDOUT...). */
  code?: string;
}

export class ManagementError extends Error {
  readonly method: string;
  readonly path: string;
  readonly status?: number;
  readonly reason: string;
  readonly category: ManagementErrorCategory;
  readonly code?: string;

  constructor(init: ManagementErrorInit) {
    const what =
      init.status !== undefined
        ? `${init.status} ${init.reason}`
        : init.category === 'Unreachable'
          ? `unreachable (${init.reason})`
          : init.category === 'Untrusted'
            ? `certificate verification failed (${init.reason})`
            : init.reason;
    super(`${init.method} ${init.path}: ${what}`);
    this.name = 'ManagementError';
    this.method = init.method;
    this.path = init.path;
    this.status = init.status;
    this.reason = init.reason;
    this.category = init.category;
    this.code = init.code;
  }
}

// 401 is used for every authorization failure (never 403); the reason tells them apart.
// These are about one object or vhost, so other requests may still work: "Access refused." is the
// AMQP permission check on a queue/exchange/binding, the other a missing vhost permission.
const OBJECT_REFUSALS = ['Access refused', 'User not authorised to access virtual host'];

/**
 * Maps an HTTP status and the broker's reason text to a category. A 401 that is not an object
 * refusal ("Login failed", "Not administrator user", "Not management user", ...) means the
 * operator's credentials can't do this at all.
 */
export function categorize(status: number, reason: string): ManagementErrorCategory {
  if (status === 401) return OBJECT_REFUSALS.some((r) => reason.startsWith(r)) ? 'Rejected' : 'Unauthorized';
  if (status === 404) return 'NotFound';
  if (status >= 400 && status < 500) return 'Rejected';
  return 'ServerError';
}

/** Longest reason kept: it reaches status conditions, events and logs. */
export const MAX_REASON_CHARS = 2000;
// Read past the cut before redacting, so that a secret straddling the cut goes whole.
const REDACT_SLACK = 4096;

const isCharCodes = (v: unknown): v is number[] =>
  Array.isArray(v) && v.length > 0 && v.every((c) => Number.isInteger(c) && c >= 0 && c <= 0x10ffff);

// Decoded in slices: spreading a long list into one call would overflow the stack.
const fromCodes = (codes: number[]): string => {
  let out = '';
  for (let i = 0; i < codes.length && out.length < MAX_REASON_CHARS + REDACT_SLACK; i += 1024)
    out += String.fromCodePoint(...codes.slice(i, i + 1024));
  return out;
};

const text = (v: unknown): string | undefined => {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string') return v;
  if (isCharCodes(v)) return fromCodes(v);
  return JSON.stringify(v);
};

// The start of a JSON string value in an answer that was cut off, e.g. `{"error":"x","reason":"...`.
function fromCutJson(body: string): string | undefined {
  const m = /"reason"\s*:\s*"/.exec(body) ?? /"error"\s*:\s*"/.exec(body);
  if (!m) return undefined;
  const rest = body.slice(m.index + m[0].length, m.index + m[0].length + MAX_REASON_CHARS + REDACT_SLACK);
  const end = rest.search(/(?<!\\)"/);
  return (end < 0 ? rest : rest.slice(0, end)).replace(/\\(.)/g, '$1');
}

/**
 * Extracts a readable reason from an error body `{"error": .., "reason": ..}`. 3.10.8 sends some
 * 500s with `error` as an Erlang char list (an array of char codes); decode it and put it first.
 * `cut`: only the start of the body was read.
 */
export function reasonFromBody(body: string, statusMessage = '', cut = false): string {
  if (cut) {
    const start = fromCutJson(body);
    return `${start ?? statusMessage ?? 'no reason given'} (answer cut off)`;
  }
  let parsed: unknown;
  try {
    parsed = body ? JSON.parse(body) : undefined;
  } catch {
    parsed = undefined;
  }
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
    const { error, reason } = parsed as { error?: unknown; reason?: unknown };
    const r = text(reason);
    const e = isCharCodes(error) ? fromCodes(error) : undefined;
    if (e && r) return `${e}: ${r}`;
    if (r ?? e) return (r ?? e)!;
    const plain = text(error);
    if (plain) return plain;
  }
  // Not a broker error body (proxy page, empty 500 from a crashed handler): keep it short.
  const trimmed = body.trim();
  if (trimmed && trimmed.length <= 200 && !trimmed.startsWith('<')) return trimmed;
  return statusMessage || 'no reason given';
}

// The management API HTML-escapes the reasons it sends, so a secret may come back escaped.
const htmlEscaped = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const SCHEME_CHAR = /[a-z0-9+.-]/i;
const USERINFO_END = /[\s@/"']/;

/**
 * Masks the password in every URI's user info ("amqp://user:pass@host" becomes
 * "amqp://user:***@host"). One pass from each "://": linear in the text's length, whatever it holds.
 */
export function maskUriPasswords(s: string, cutAtEnd = false): string {
  let out = '';
  let from = 0;
  for (let at = s.indexOf('://'); at >= 0; at = s.indexOf('://', at + 3)) {
    // A scheme starts with a letter: walk back over scheme characters to one.
    let start = at;
    while (start > 0 && SCHEME_CHAR.test(s[start - 1]!)) start--;
    while (start < at && !/[a-z]/i.test(s[start]!)) start++;
    if (start === at) continue;
    let end = at + 3;
    let colon = -1;
    while (end < s.length && !USERINFO_END.test(s[end]!)) {
      if (s[end] === ':' && colon < 0) colon = end;
      end++;
    }
    // "user:pass@", or "user:pass" where a cut ended the text (a port there is masked too: harmless).
    const userinfo = end < s.length ? s[end] === '@' : cutAtEnd;
    if (colon < 0 || !userinfo) continue;
    out += s.slice(from, colon + 1) + '***';
    from = end;
    at = Math.max(at, end - 3);
  }
  return out + s.slice(from);
}

/**
 * Replaces every secret (password, password hash, auth header, URI), raw or as the broker
 * escaped it, and the password of any URI in `s` with `***`.
 */
export function redact(s: string, secrets: readonly string[]): string {
  let out = s;
  const forms = secrets.flatMap((x) => (x ? [x, htmlEscaped(x)] : []));
  // Longest first: a URI goes whole before the password inside it.
  for (const secret of [...new Set(forms)].sort((a, b) => b.length - a.length))
    out = out.split(secret).join('***');
  return maskUriPasswords(out);
}

/**
 * A reason of any length made fit to show: cut to MAX_REASON_CHARS, redacted (past the cut, so that
 * nothing of a secret is left at the edge), on one line.
 */
export function shownReason(reason: string, secrets: readonly string[]): string {
  const long = reason.length > MAX_REASON_CHARS;
  let out = redact(long ? reason.slice(0, MAX_REASON_CHARS + REDACT_SLACK) : reason, secrets);
  // Some reasons span lines ("Validation failed\n\n..."): keep the message on one line.
  out = out.replace(/\s+/g, ' ').trim();
  if (out.length > MAX_REASON_CHARS) out = maskUriPasswords(out.slice(0, MAX_REASON_CHARS), true) + '…';
  return out;
}

/** Builds the error for a response with a non-success status. */
export function errorFromResponse(
  method: string,
  path: string,
  status: number,
  body: string,
  opts: { statusMessage?: string; secrets?: readonly string[]; cut?: boolean } = {},
): ManagementError {
  const reason = shownReason(reasonFromBody(body, opts.statusMessage, opts.cut), opts.secrets ?? []);
  return new ManagementError({ method, path, status, reason, category: categorize(status, reason) });
}

// OpenSSL's verification results as Node reports them (err.code), and the host name check's.
const UNTRUSTED_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** True when the server's certificate was not accepted (unknown CA, wrong name, expired...). */
export function isUntrusted(cause: { code?: string }): boolean {
  return cause.code !== undefined && UNTRUSTED_CODES.has(cause.code);
}

/**
 * OpenSSL's text for an alert the server sent during the handshake ("...:ssl3_read_bytes:tlsv13
 * alert certificate required:../deps/...") shortened to what a person acts on.
 */
export function tlsAlert(message: string): string {
  const m = /SSL routines:[^:]*:(tlsv1\d? alert [a-z ]+):/.exec(message);
  if (!m) return message;
  const alert = m[1]!.replace(/^tlsv1\d? alert /, '');
  const hint =
    alert === 'certificate required'
      ? ': the broker requires a client certificate (spec.tls.clientCertificateSecretRef)'
      : alert === 'unknown ca' || alert === 'bad certificate' || alert === 'certificate unknown'
        ? ': the broker does not accept the client certificate'
        : '';
  return `TLS handshake refused by the broker, alert '${alert}'${hint}`;
}

/** Builds the error for a request that got no response (refused, reset, timed out, TLS failure). */
export function errorFromNoResponse(
  method: string,
  path: string,
  cause: { code?: string; message?: string },
  secrets: readonly string[] = [],
): ManagementError {
  const detail = tlsAlert(shownReason(cause.message || cause.code || 'no response', secrets));
  const untrusted = isUntrusted(cause);
  const reason =
    untrusted && cause.code && !detail.includes(cause.code) ? `${detail}, ${cause.code}` : detail;
  return new ManagementError({
    method,
    path,
    reason,
    category: untrusted ? 'Untrusted' : 'Unreachable',
    code: cause.code,
  });
}
