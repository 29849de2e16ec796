import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { describeEnvironment, startEnvironment, type EnvironmentInfo } from './environment.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    env: EnvironmentInfo;
  }
}

// One control plane and one broker for the whole integration run; each test file makes its own
// namespace and vhost (see context.ts).
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'warren-test-'));
  const started = Date.now();
  const env = await startEnvironment(dir);
  console.log(
    `integration environment up in ${Date.now() - started} ms: kubernetes ${env.controlPlane.version}, ` +
      `rabbitmq ${env.broker.version} (${dir})`,
  );
  project.provide('env', describeEnvironment(env));
  return async () => {
    await env.stop();
    if (!process.env.WARREN_KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  };
}
