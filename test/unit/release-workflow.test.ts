import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ROOT } from '../../src/api/deploy.ts';

// .github/workflows/release.yml runs only on GitHub, on a tag: here, what can be checked without it.
// The files its steps name exist, the versions it compares agree today, its shell steps parse, and
// the steps that only read the repository (the version check, the pinning of the image, the release
// notes) run on a copy of it.
type Step = {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
};
const workflow = parse(readFileSync(join(ROOT, '.github/workflows/release.yml'), 'utf8')) as {
  on: { push: { tags: string[] } };
  permissions: Record<string, string>;
  env: Record<string, string>;
  jobs: Record<string, { steps: Step[] }>;
};
const steps = Object.values(workflow.jobs).flatMap((j) => j.steps);
const step = (name: string) => {
  const s = steps.find((s) => s.name === name);
  if (!s) throw new Error(`release.yml has no step "${name}"`);
  return s;
};
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const chart = parse(readFileSync(join(ROOT, 'charts/warren/Chart.yaml'), 'utf8')) as Record<string, string>;
const values = parse(readFileSync(join(ROOT, 'charts/warren/values.yaml'), 'utf8')) as Record<string, any>;
const deployment = parseAllDocuments(readFileSync(join(ROOT, 'deploy/deployment.yaml'), 'utf8'))[0]!.toJS();
const deployImage: string = deployment.spec.template.spec.containers[0].image;

const tmp: string[] = [];
afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of what the steps read, in a directory of its own. */
function checkout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'warren-release-'));
  tmp.push(dir);
  for (const f of ['package.json', 'CHANGELOG.md', 'charts/warren/Chart.yaml', 'deploy']) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    cpSync(join(ROOT, f), join(dir, f), { recursive: true });
  }
  return dir;
}
/** A run step's script in bash, with the workflow's env, the step's (expressions replaced) and `env`. */
function runStep(s: Step, cwd: string, env: Record<string, string>): string {
  const stepEnv = Object.fromEntries(
    Object.entries(s.env ?? {}).map(([k, v]) => [k, String(v).replace(/\$\{\{[^}]*\}\}/g, 'x')]),
  );
  return execFileSync('bash', ['-e', '-c', s.run!], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, ...workflow.env, ...stepEnv, ...env },
  });
}

describe('the release workflow', () => {
  it('runs on a tag v*, and may write releases and packages only', () => {
    expect(workflow.on).toEqual({ push: { tags: ['v*'] } });
    expect(workflow.permissions).toEqual({ contents: 'write', packages: 'write' });
  });

  it('agrees on the version: package.json, Chart.yaml (version, appVersion), the image in deploy/, CHANGELOG.md', () => {
    expect(chart.version).toBe(pkg.version);
    expect(chart.appVersion).toBe(pkg.version);
    expect(deployImage).toBe(`${workflow.env.IMAGE}:${pkg.version}`);
    expect(values.image.repository).toBe(workflow.env.IMAGE);
    expect(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8')).toMatch(
      new RegExp(`^## ${pkg.version.replaceAll('.', '\\.')}\\b`, 'm'),
    );
    // The version step itself, on this checkout with the tag v<version>, passes; on another tag, it stops.
    const dir = checkout();
    const s = step('The tag, package.json, the chart and the image agree');
    const githubEnv = join(dir, 'github-env');
    runStep(s, dir, { GITHUB_REF_NAME: `v${pkg.version}`, GITHUB_ENV: githubEnv });
    expect(readFileSync(githubEnv, 'utf8')).toBe(`VERSION=${pkg.version}\n`);
    expect(() => runStep(s, dir, { GITHUB_REF_NAME: 'v9.9.9', GITHUB_ENV: githubEnv })).toThrow(
      /package.json is not 9.9.9/,
    );
  });

  it('names files that exist', () => {
    const build = steps.find((s) => s.uses?.startsWith('docker/build-push-action@'))!;
    expect(existsSync(join(ROOT, String(build.with!.context), String(build.with!.file)))).toBe(true);
    const scripts = steps.map((s) => s.run ?? '').join('\n');
    const named = new Set(
      scripts.match(/(?<![\w/.$-])(?:deploy|charts|test|src)\/[\w./-]*[\w]|CHANGELOG\.md|package\.json/g),
    );
    expect([...named].sort()).toEqual(
      [
        'CHANGELOG.md',
        'charts/warren',
        'charts/warren/Chart.yaml',
        'deploy/deployment.yaml',
        'deploy/install.yaml',
        'deploy/namespaced/install.yaml',
        'package.json',
        'test/tools/helm.sh',
      ].sort(),
    );
    for (const f of named) expect(existsSync(join(ROOT, f)), f).toBe(true);
    // npm scripts it runs exist.
    const scriptsOf = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<
      string,
      string
    >;
    for (const [, name] of scripts.matchAll(/npm run ([\w:-]+)/g))
      expect(scriptsOf, name).toHaveProperty(name!);
  });

  it('builds the image for linux/amd64 and linux/arm64 and pushes it as IMAGE:<version>', () => {
    const build = steps.find((s) => s.uses?.startsWith('docker/build-push-action@'))!;
    expect(String(build.with!.platforms).split(',')).toEqual(['linux/amd64', 'linux/arm64']);
    expect(build.with!.push).toBe(true);
    expect(build.with!.tags).toBe('${{ env.IMAGE }}:${{ env.VERSION }}');
    for (const a of ['docker/setup-qemu-action', 'docker/setup-buildx-action', 'docker/login-action'])
      expect(steps.some((s) => s.uses?.startsWith(`${a}@`))).toBe(true);
  });

  it('has shell steps bash can parse', () => {
    for (const s of steps.filter((s) => s.run)) execFileSync('bash', ['-n', '-c', s.run!]);
  });

  it('packages and pushes the chart to an OCI registry', () => {
    const s = step('Package and push the chart');
    expect(s.run).toContain('helm package charts/warren');
    expect(s.run).toContain('helm push "dist/chart/warren-$VERSION.tgz" "$CHARTS"');
    expect(workflow.env.CHARTS).toMatch(/^oci:\/\//);
  });

  it('attaches install.yaml and the namespaced one with the image pinned to the tag and digest', () => {
    const dir = checkout();
    const digest = 'sha256:' + 'ab'.repeat(32);
    runStep(step('Pin the image in the manifests'), dir, { VERSION: pkg.version, DIGEST: digest });
    for (const [src, out] of [
      ['deploy/install.yaml', 'install.yaml'],
      ['deploy/namespaced/install.yaml', 'install-namespaced.yaml'],
    ]) {
      const pinned = readFileSync(join(dir, 'dist/release', out!), 'utf8');
      const original = readFileSync(join(ROOT, src!), 'utf8');
      expect(pinned).toBe(original.replace(`image: ${deployImage}\n`, `image: ${deployImage}@${digest}\n`));
      expect(pinned).not.toBe(original);
    }
    const release = step('The GitHub release, with the manifests');
    expect(release.run).toContain('dist/release/install.yaml dist/release/install-namespaced.yaml');
  });

  it("writes the release notes from the CHANGELOG's section", () => {
    const dir = checkout();
    runStep(step('The release notes, from CHANGELOG.md'), dir, { VERSION: pkg.version });
    const notes = readFileSync(join(dir, 'dist/release/notes.md'), 'utf8');
    expect(notes.length).toBeGreaterThan(100);
    expect(notes).not.toMatch(/^## /m);
  });
});
