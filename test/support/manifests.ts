import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { GROUP, VERSION } from '../../src/api/common.ts';
import type { TestContext } from './context.ts';

const PLURALS: Record<string, string> = {
  RabbitBroker: 'rabbitbrokers',
  RabbitVhost: 'rabbitvhosts',
  RabbitUser: 'rabbitusers',
  RabbitPermission: 'rabbitpermissions',
  RabbitTopicPermission: 'rabbittopicpermissions',
  RabbitQueue: 'rabbitqueues',
};

export function loadManifests(dir: string): any[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJSON()));
}

/** Creates manifests (Secrets and warren kinds) in the test namespace, as `kubectl apply -n` would. */
export async function applyManifests(ctx: TestContext, docs: any[]): Promise<void> {
  for (const doc of docs) {
    const body = { ...doc, metadata: { ...doc.metadata, namespace: ctx.namespace } };
    if (doc.kind === 'Secret') {
      await ctx.core.createNamespacedSecret({ namespace: ctx.namespace, body });
    } else {
      await ctx.custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ctx.namespace,
        plural: PLURALS[doc.kind]!,
        body,
      });
    }
  }
}
