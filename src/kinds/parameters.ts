// What the runtime-parameter kinds (shovels, federation upstreams and upstream sets) share: one
// bulk read of every parameter for the survey, and how a runtime state compares with status.
import { setTimeout as sleep } from 'node:timers/promises';
import { Reasons, type Resource } from '../api/common.ts';
import { ManagementError, type ManagementClient } from '../rabbitmq/index.ts';
import { findCondition } from '../runtime/conditions.ts';
import { canonical } from './compare.ts';
import { entries, type NotWorking, type Table } from './types.ts';

const COMPONENTS = new Set(['shovel', 'federation-upstream', 'federation-upstream-set']);

/** One request for all of them, every vhost; rows keyed [component, vhost, name]. */
export const parametersTable: Table<unknown> = {
  name: 'parameters',
  noun: 'parameter',
  scope: 'broker',
  read: async (client: ManagementClient) =>
    entries(parametersTable, await client.listParameters(), (p) =>
      COMPONENTS.has(p.component) ? [[p.component, p.vhost, p.name], p.value] : undefined,
    ),
};

/** Parameter values compare as JSON, key order aside. */
export const sameValue = (a: unknown, b: unknown) => canonical(a) === canonical(b);

/** Whether the resource's Ready condition already says what this runtime verdict says. */
export function showsVerdict(r: Resource<unknown, any>, v: NotWorking | undefined): boolean {
  const c = findCondition(r.status?.conditions, 'Ready');
  if (!v) return c?.status === 'True';
  return c?.status === 'False' && c.reason === v.reason && c.message === v.message;
}

/** What a kind says when the broker has no status list for its objects (a management plugin missing). */
export const noStatusList = (what: string, plugin: string): NotWorking => ({
  reason: Reasons.Rejected,
  message: `the broker lists no ${what}: enable the ${plugin} plugin so that warren can tell whether it works`,
});

const SETTLE_TRIES = 6;
const SETTLE_MS = 250;

/**
 * A shovel or link just declared is usually running within a second: look again a few times
 * (1.5 s at most) before reporting it starting, so that a healthy one never shows as a problem.
 */
export async function settle<T>(
  look: () => Promise<T>,
  starting: (t: T) => boolean,
  fresh: boolean,
): Promise<T> {
  let t = await look();
  for (let i = 0; fresh && starting(t) && i < SETTLE_TRIES; i++) {
    await sleep(SETTLE_MS);
    t = await look();
  }
  return t;
}

/** A parameter write; a broker that does not know the component is told which plugin it lacks. */
export async function putParameter(
  client: ManagementClient,
  component: string,
  plugin: string,
  d: { vhost: string; name: string; value: unknown; secrets?: string[] },
): Promise<void> {
  try {
    await client.putParameter(component, d.vhost, d.name, d.value, d.secrets);
  } catch (err) {
    if (err instanceof ManagementError && /component .* not found/i.test(err.reason)) {
      throw new ManagementError({
        method: err.method,
        path: err.path,
        status: err.status,
        reason: `${err.reason} (the ${plugin} plugin must be enabled)`,
        category: 'Rejected',
      });
    }
    throw err;
  }
}
