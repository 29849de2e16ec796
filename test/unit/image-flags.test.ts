import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { imageNodeArgs } from '../../bench/image-env.ts';

// The image's CMD passes V8 flags to node; one this Node does not know stops the container at start,
// which only the end-to-end run would otherwise show. Node 24 here is the image's Node.
function start(flags: string[]) {
  return spawnSync(process.execPath, [...flags, '-'], {
    input: 'console.log(JSON.stringify(process.execArgv))',
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe("the image's node flags", () => {
  it('are read from the CMD and accepted by this Node', () => {
    const flags = imageNodeArgs();
    expect(flags).toContain('--optimize-for-size');
    expect(flags).toContain('--heap-growing-percent=30');
    const run = start(flags);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(flags);
  });

  it('would fail on a flag this Node does not know', () => {
    const run = start([...imageNodeArgs(), '--heap-growing-percentage=30']);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('bad option');
  });
});
