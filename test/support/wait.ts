import { setTimeout as sleep } from 'node:timers/promises';

/** Polls fn until it returns a value accepted by ok; bounded in time, with the last value in the error. */
export async function eventually<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  { timeoutMs = 20_000, intervalMs = 100, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (ok(last)) return last;
    } catch (err) {
      lastErr = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}${lastErr ? `; last error: ${String(lastErr)}` : ''}`,
  );
}

export const readyOf = (obj: any) => obj?.status?.conditions?.find((c: any) => c.type === 'Ready');

export const isReadyNow = (obj: any) => {
  const c = readyOf(obj);
  return c?.status === 'True' && obj.status.observedGeneration === obj.metadata.generation;
};
