import { AsyncLocalStorage } from 'node:async_hooks';

// Counts the management API requests made inside one async scope (a survey), even while other
// reconciles share the same client.
const scope = new AsyncLocalStorage<{ requests: number }>();

/** Runs fn and returns its result with the number of requests it made. */
export async function countRequests<T>(fn: () => Promise<T>): Promise<{ result: T; requests: number }> {
  const counter = { requests: 0 };
  const result = await scope.run(counter, fn);
  return { result, requests: counter.requests };
}

/** Called by the client for every request sent. */
export function noteRequest(): void {
  const c = scope.getStore();
  if (c) c.requests++;
}
