import { pino, type Logger } from 'pino';

// Paths that could ever carry a credential are censored, as a second line of defence: the code
// never passes secrets to the logger in the first place.
const REDACT = [
  'password',
  'passwordHash',
  'password_hash',
  '*.password',
  '*.passwordHash',
  '*.password_hash',
  '*.data',
  '*.stringData',
  'authorization',
  '*.authorization',
  'headers.authorization',
];

export function makeLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { app: 'warren' }, redact: { paths: REDACT, censor: '[redacted]' } });
}

export type { Logger };
