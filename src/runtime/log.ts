import { pino, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';

// Paths that could ever carry a credential are censored, as a second line of defence: the code
// never passes secrets to the logger in the first place.
export const REDACT = [
  'password',
  'passwordHash',
  'password_hash',
  'data',
  'stringData',
  '*.password',
  '*.passwordHash',
  '*.password_hash',
  '*.data',
  '*.stringData',
  '*.*.password',
  '*.*.passwordHash',
  '*.*.password_hash',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  '*.*.headers.authorization',
];

export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * The logger: JSON lines by default (numeric levels, epoch milliseconds, as log collectors read
 * them), or with `format` "text" (LOG_FORMAT=text) one line for people:
 *
 *     2024-05-01T12:00:00.000Z INFO  applied to the broker controller=rabbitqueue key=ns/hello
 *
 * Redaction happens before either is written.
 */
export function makeLogger(
  level = process.env.LOG_LEVEL ?? 'info',
  destination?: DestinationStream,
  format: LogFormat = process.env.LOG_FORMAT === 'text' ? 'text' : 'json',
): Logger {
  const text = format === 'text';
  return pino(
    {
      level,
      base: { app: 'warren' },
      redact: { paths: REDACT, censor: '[redacted]' },
      ...(text && { timestamp: stdTimeFunctions.isoTime }),
    },
    text ? textDestination(destination ?? process.stdout) : destination,
  );
}

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const OMITTED = new Set(['level', 'time', 'msg', 'app', 'pid', 'hostname']);

/** A field as `key=value`: strings bare unless they need quotes, anything else as JSON. */
function field(key: string, value: unknown): string {
  const v =
    typeof value === 'string'
      ? /^[^\s"=]+$/.test(value)
        ? value
        : JSON.stringify(value)
      : JSON.stringify(value);
  return `${key}=${v}`;
}

/** One pino JSON line as text: time, level, message, then the other fields in order. */
export function textLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = LEVELS[o.level as number] ?? String(o.level);
  const rest = Object.entries(o)
    .filter(([k]) => !OMITTED.has(k))
    .map(([k, v]) => field(k, v));
  return `${[String(o.time), level.padEnd(5), String(o.msg ?? ''), ...rest].join(' ').trimEnd()}\n`;
}

function textDestination(out: DestinationStream): DestinationStream {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line) out.write(textLine(line));
    },
  };
}

export type { Logger };
