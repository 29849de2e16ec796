import { pino, type DestinationStream, type Logger } from 'pino';

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

export function makeLogger(level = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  return pino(
    { level, base: { app: 'warren' }, redact: { paths: REDACT, censor: '[redacted]' } },
    destination,
  );
}

export type { Logger };
