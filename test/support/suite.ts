import { afterAll, beforeAll } from 'vitest';
import { testContext, type TestContext } from './context.ts';
import { createBroker, startOperator, type RunningOperator } from './operator.ts';

/**
 * The usual test file: its namespace and vhost, the RabbitBroker `local` and an operator watching
 * the namespace. `set` receives them once ready; `cleanup` runs after the operator stopped (so it
 * cannot re-declare what the cleanup deletes) and before the namespace goes.
 */
export function useOperator(
  fileUrl: string,
  set: (ctx: TestContext, op: RunningOperator) => void,
  opts: {
    resyncMs?: number;
    terminatingGraceMs?: number;
    cleanup?: (ctx: TestContext) => Promise<void>;
  } = {},
): void {
  let ctx: TestContext | undefined;
  let op: RunningOperator | undefined;
  beforeAll(async () => {
    ctx = await testContext(fileUrl);
    await createBroker(ctx);
    op = await startOperator(ctx, { resyncMs: opts.resyncMs, terminatingGraceMs: opts.terminatingGraceMs });
    set(ctx, op);
  });
  afterAll(async () => {
    await op?.stop();
    if (ctx) await opts.cleanup?.(ctx);
    await ctx?.cleanup();
  });
}
