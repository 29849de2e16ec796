import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';

// deploy/optional/prometheusrule.yaml with Prometheus' own promtool (cmd/promtool of the pinned
// Prometheus module, built by test/tools/build.sh, which .ci/run calls): `promtool check rules` on
// the PrometheusRule's rule groups, and `promtool test rules` on test/tools/alerts-test.yaml, which
// has a firing case and cases that must not fire for each alert.
const ROOT = join(import.meta.dirname, '..', '..');
const RULE_FILE = join(ROOT, 'deploy', 'optional', 'prometheusrule.yaml');
const TESTS_FILE = join(ROOT, 'test', 'tools', 'alerts-test.yaml');

/** Where build.sh puts promtool (`--dir` builds nothing); undefined without Go. */
function toolsDir(): string | undefined {
  try {
    return execFileSync('bash', [join(ROOT, 'test', 'tools', 'build.sh'), '--dir'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
      .toString()
      .trim()
      .split('\n')
      .at(-1);
  } catch {
    return undefined;
  }
}
const dir = toolsDir();
const PROMTOOL = process.env.WARREN_PROMTOOL ?? (dir && join(dir, 'promtool'));
const missing = !PROMTOOL || !existsSync(PROMTOOL);
if (missing) {
  console.warn(
    `alerts.test.ts: promtool tests SKIPPED: no promtool binary at ${PROMTOOL ?? '(Go not found)'}; build it with \`bash test/tools/build.sh\` (.ci/run does)`,
  );
}

type Rule = { alert?: string; record?: string; expr: string; for?: string; labels?: any; annotations?: any };
const resource = parse(readFileSync(RULE_FILE, 'utf8'));
const groups: Array<{ name: string; rules: Rule[] }> = resource.spec.groups;
const alerts = groups.flatMap((g) => g.rules).filter((r) => r.alert);

describe('deploy/optional/prometheusrule.yaml', () => {
  it('is a PrometheusRule of the Prometheus Operator in warren-system, each alert with a severity, a summary and a description', () => {
    expect(resource.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(resource.kind).toBe('PrometheusRule');
    expect(resource.metadata.namespace).toBe('warren-system');
    expect(alerts.map((a) => a.alert)).toEqual([
      'WarrenBrokerUnreachable',
      'WarrenSurveysFailing',
      'WarrenResourcesNotReady',
      'WarrenReconcileErrors',
      'WarrenDriftRepairsSpiking',
      'WarrenNoLeader',
      'WarrenDown',
    ]);
    for (const a of alerts) {
      expect(['critical', 'warning'], a.alert).toContain(a.labels?.severity);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      expect(a.annotations?.description, a.alert).toBeTruthy();
      expect(a.for, a.alert).toMatch(/^\d+m$/);
    }
  });

  it('alerts-test.yaml has, for every alert, a case where it fires and one where it does not', () => {
    const t = parse(readFileSync(TESTS_FILE, 'utf8'));
    const cases = (t.tests as any[]).flatMap((g) => g.alert_rule_test as any[]);
    for (const a of alerts) {
      const mine = cases.filter((c) => c.alertname === a.alert);
      expect(
        mine.some((c) => c.exp_alerts?.length),
        `${a.alert} fires`,
      ).toBe(true);
      expect(
        mine.some((c) => Array.isArray(c.exp_alerts) && c.exp_alerts.length === 0),
        `${a.alert} stays quiet`,
      ).toBe(true);
    }
    for (const c of cases) expect(alerts.map((a) => a.alert)).toContain(c.alertname);
  });
});

describe.skipIf(missing)('promtool on the rules', () => {
  // promtool reads Prometheus rule files: the PrometheusRule's spec is one.
  const work = mkdtempSync(join(tmpdir(), 'warren-alerts-'));
  writeFileSync(join(work, 'warren-rules.yaml'), stringify({ groups }));
  cpSync(TESTS_FILE, join(work, 'alerts-test.yaml'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const run = (quiet: boolean, ...args: string[]) => {
    const r = spawnSync(PROMTOOL!, args, { cwd: work, encoding: 'utf8', timeout: 60_000 });
    const out = `${r.stdout}${r.stderr}`;
    console.log(
      `promtool ${args.join(' ')}: exit ${r.status}${quiet ? ' (as expected: output not shown)' : `\n${out}`}`,
    );
    return { status: r.status, out };
  };
  const promtool = (...args: string[]) => run(false, ...args);

  it('promtool check rules: the rule groups are valid, every rule', () => {
    const { status, out } = promtool('check', 'rules', 'warren-rules.yaml');
    expect(out).toContain(`SUCCESS: ${groups.flatMap((g) => g.rules).length} rules found`);
    expect(status).toBe(0);
  });

  it('promtool test rules alerts-test.yaml: every firing and non-firing case passes', () => {
    const { status, out } = promtool('test', 'rules', 'alerts-test.yaml');
    expect(out).not.toContain('FAILED');
    expect(status).toBe(0);
  });

  it('every expression of deploy/optional/grafana-dashboard.json is valid PromQL (promtool check rules)', () => {
    // Each panel query as a recording rule, Grafana's variables replaced by what they stand for.
    const dash = JSON.parse(readFileSync(join(ROOT, 'deploy', 'optional', 'grafana-dashboard.json'), 'utf8'));
    const panels = (list: any[]): any[] => list.flatMap((p) => [p, ...panels(p.panels ?? [])]);
    const exprs: string[] = panels(dash.panels).flatMap((p) => (p.targets ?? []).map((t: any) => t.expr));
    expect(exprs.length).toBeGreaterThan(20);
    const rules = exprs.map((e, i) => ({
      record: `warren:dashboard_query_${i}`,
      expr: e
        .replaceAll('$__rate_interval', '2m')
        .replaceAll('$__range', '1h')
        .replaceAll('$namespace', '.*'),
    }));
    expect(rules.map((r) => r.expr).join('\n')).not.toContain('$');
    writeFileSync(join(work, 'dashboard-rules.yaml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
    const { status, out } = promtool('check', 'rules', 'dashboard-rules.yaml');
    expect(out).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(status).toBe(0);
  });

  it('the test file catches a broken rule (the cases are not vacuous)', () => {
    // Every alert fires at once: the cases that must stay quiet fail.
    const broken = groups.map((g) => ({ ...g, rules: g.rules.map((r) => ({ ...r, for: '0m' })) }));
    writeFileSync(join(work, 'warren-rules.yaml'), stringify({ groups: broken }));
    try {
      const { status, out } = run(true, 'test', 'rules', 'alerts-test.yaml');
      expect(status).not.toBe(0);
      for (const a of alerts) expect(out, a.alert).toContain(`alertname: ${a.alert},`);
    } finally {
      writeFileSync(join(work, 'warren-rules.yaml'), stringify({ groups }));
    }
  });
});
