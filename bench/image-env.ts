// The environment the image sets for the operator (the Dockerfile's ENV lines of its final stage),
// so that a bench measures the process as it is deployed.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../test/support/environment.ts';

export function imageEnv(): Record<string, string> {
  const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  return Object.fromEntries(
    [...final.matchAll(/^ENV (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.trim().replace(/^"(.*)"$/, '$1')]),
  );
}

/** Compiles src/ into dist/ as the image build does; the benches run `node dist/main.js`. */
export function buildDist(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO, stdio: 'inherit' });
}

/** The node flags of the image's CMD (those before the script), as the operator runs with them. */
export function imageNodeArgs(): string[] {
  const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
  const argv = cmd ? (JSON.parse(cmd) as string[]) : [];
  return argv.slice(1).filter((a) => a.startsWith('--'));
}
