import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHealthServer } from '../../src/runtime/health.ts';
import type { TestContext } from '../support/context.ts';
import { enc } from '../support/management.ts';
import type { RunningOperator } from '../support/operator.ts';
import { useOperator } from '../support/suite.ts';
import { eventually, isReadyNow, readyOf } from '../support/wait.ts';

// Every metric that deploy/optional/prometheusrule.yaml and grafana-dashboard.json name is exported
// by a running operator: its /metrics, served as src/main.ts serves it (startHealthServer with the
// operator's registry), after one RabbitBroker and a few resources were reconciled and surveyed.
const ROOT = join(import.meta.dirname, '..', '..');
const OPTIONAL = join(ROOT, 'deploy', 'optional');

/** What follows a name and makes it not a metric: a function call or an aggregation. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'Inf', 'NaN']);

/**
 * The metric names a PromQL expression selects: string literals, label matchers, ranges and
 * by/without/on/ignoring/group_* clauses are taken out; what remains that is not called (a
 * function or aggregation) and not a keyword is a metric name.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || KEYWORDS.has(m[1]!)) continue;
    names.add(m[1]!);
  }
  return [...names];
}

/** Expressions of the PrometheusRule: every rule's expr. */
function ruleExpressions(): Array<{ where: string; expr: string }> {
  const r = parse(readFileSync(join(OPTIONAL, 'prometheusrule.yaml'), 'utf8'));
  return r.spec.groups.flatMap((g: any) =>
    g.rules.map((x: any) => ({ where: `rule ${x.alert ?? x.record}`, expr: String(x.expr) })),
  );
}

/** Expressions of the dashboard: every panel target's expr, and the variables' label_values(metric, ...). */
function dashboardExpressions(): Array<{ where: string; expr: string }> {
  const d = JSON.parse(readFileSync(join(OPTIONAL, 'grafana-dashboard.json'), 'utf8'));
  const out: Array<{ where: string; expr: string }> = [];
  const panels = (list: any[]): any[] => list.flatMap((p) => [p, ...panels(p.panels ?? [])]);
  for (const p of panels(d.panels))
    for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}"`, expr: t.expr });
  for (const v of d.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const m = /^label_values\(\s*([^,]+),/.exec(q ?? '');
    if (m) out.push({ where: `variable ${v.name}`, expr: m[1]!.trim() });
  }
  return out;
}

/** The /metrics text's families: name -> type, and the sample names that have values. */
function families(text: string) {
  const types = new Map<string, string>();
  const sampled = new Set<string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1]!, t[2]!);
    else if (line && !line.startsWith('#')) sampled.add(/^[^{\s]+/.exec(line)![0]);
  }
  /** The family a sample name belongs to (a histogram's _bucket, _sum, _count). */
  const family = (name: string) => {
    if (types.has(name)) return name;
    const base = name.replace(/_(bucket|sum|count)$/, '');
    return base !== name && ['histogram', 'summary'].includes(types.get(base) ?? '') ? base : undefined;
  };
  return { types, sampled, family };
}

let ctx: TestContext;
let op: RunningOperator;
let server: Server;
let url: string;
useOperator(import.meta.url, (c, o) => {
  ctx = c;
  op = o;
});

beforeAll(async () => {
  server = await startHealthServer({
    port: 0,
    host: '127.0.0.1',
    ready: () => op.operator.ready,
    registry: op.metrics.registry,
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  const b = { name: 'local' };
  await ctx.create('rabbitqueues', 'jobs', { brokerRef: b, vhost: ctx.vhost });
  await ctx.create('rabbitexchanges', 'events', { brokerRef: b, vhost: ctx.vhost, type: 'topic' });
  await ctx.create('rabbitbindings', 'events-jobs', {
    brokerRef: b,
    vhost: ctx.vhost,
    source: 'events',
    destination: 'jobs',
    destinationType: 'queue',
    routingKey: 'job.#',
  });
  // Waits for a vhost nobody declares: Ready=False, so warren_resources{ready="False"} has a series.
  await ctx.create('rabbitqueues', 'orphan', { brokerRef: b, vhost: `${ctx.vhost}-missing` });
  for (const [plural, name] of [
    ['rabbitqueues', 'jobs'],
    ['rabbitexchanges', 'events'],
    ['rabbitbindings', 'events-jobs'],
  ] as const)
    await eventually(() => ctx.get(plural, name), isReadyNow, { what: `${plural}/${name} Ready` });
  await eventually(
    () => ctx.get('rabbitqueues', 'orphan'),
    (o) => readyOf(o)?.status === 'False',
    { what: 'rabbitqueues/orphan Ready=False' },
  );
  // Drift behind warren's back, which a survey finds and repairs (warren_drift_found_total).
  expect(await ctx.broker.del(`/queues/${enc(ctx.vhost)}/jobs`)).toBe(204);
  await eventually(
    async () => (await fetch(url)).text(),
    (t) => /^warren_drift_found_total\{[^}]*\} [1-9]/m.test(t),
    { what: 'the survey to find the deleted queue', timeoutMs: 30_000, intervalMs: 500 },
  );
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
});

describe('metric names in deploy/optional/', () => {
  it('the name parser finds what it should (and no functions, labels or Grafana variables)', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, controller) (rate(a_seconds_bucket{namespace=~"$namespace", x="y{z}"}[$__rate_interval]))) / on(pod) group_left(node) b_total offset 5m or vector(0)',
      ).sort(),
    ).toEqual(['a_seconds_bucket', 'b_total']);
    expect(metricNames('max by (namespace, broker) (warren_broker_up) == 0')).toEqual(['warren_broker_up']);
    expect(metricNames('absent(warren_leader)')).toEqual(['warren_leader']);
  });

  it('every metric the rules and the dashboard name is in the running operator’s /metrics', async () => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const { types, sampled, family } = families(await res.text());
    const used = new Map<string, string[]>();
    const exprs = [...ruleExpressions(), ...dashboardExpressions()];
    expect(exprs.length).toBeGreaterThan(30);
    for (const { where, expr } of exprs) {
      const names = metricNames(expr);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const n of names) used.set(n, [...(used.get(n) ?? []), where]);
    }
    const missing = [...used]
      .filter(([n]) => !family(n))
      .map(([n, w]) => `${n} (${[...new Set(w)].join(', ')})`);
    console.log(
      [...used.keys()]
        .sort()
        .map(
          (n) =>
            `${n}: ${family(n) ? `${types.get(family(n)!)}${sampled.has(n) ? ', with samples' : ', declared, no sample yet'}` : 'MISSING'}`,
        )
        .join('\n'),
    );
    expect(missing).toEqual([]);
    // The alerts' own series are there with values, not only declared.
    for (const n of [
      'warren_broker_up',
      'warren_resources',
      'warren_drift_found_total',
      'warren_leader',
      'controller_runtime_reconcile_total',
      'warren_broker_requests_total',
      'warren_survey_duration_seconds_count',
    ])
      expect(sampled, n).toContain(n);
  });

  it('the series the alerts select have the labels the rules group by', async () => {
    const text = await (await fetch(url)).text();
    const broker = `${ctx.namespace}/local`;
    expect(text).toContain(`warren_broker_up{broker="${broker}"} 1`);
    expect(text).toMatch(
      /^warren_resources\{kind="RabbitQueue",ready="False",reason="WaitingForDependency"\} 1$/m,
    );
    expect(text).toMatch(/^warren_resources\{kind="RabbitQueue",ready="True",reason="Reconciled"\} 1$/m);
    expect(text).toMatch(new RegExp(`^warren_drift_found_total\\{broker="${broker}"\\} [1-9]`, 'm'));
    expect(text).toMatch(/^controller_runtime_reconcile_total\{controller="\w+",result="\w+"\} \d+/m);
    expect(text).toMatch(
      /^warren_broker_requests_total\{broker="[^"]+",method="(GET|PUT|POST|DELETE)"\} \d+/m,
    );
  });
});
