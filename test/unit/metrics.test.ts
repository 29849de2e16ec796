import { describe, expect, it } from 'vitest';
import { makeMetrics } from '../../src/runtime/metrics.ts';

const ready = (status: string, reason: string) => ({
  status: { conditions: [{ type: 'Ready', status, reason }] },
});

describe('metrics after the Prometheus conventions', () => {
  it('exports broker requests and retries as counters named _total, never as gauges', async () => {
    const m = makeMetrics();
    m.observeBrokerRequests(() => new Map([['ns/b', { byMethod: { GET: 3, PUT: 1 }, retries: 2 }]]));
    const text = await m.registry.metrics();
    expect(text).toMatch(/^# TYPE warren_broker_requests_total counter$/m);
    expect(text).toMatch(/^warren_broker_requests_total\{broker="ns\/b",method="GET"\} 3$/m);
    expect(text).toMatch(/^warren_broker_requests_total\{broker="ns\/b",method="PUT"\} 1$/m);
    expect(text).toMatch(/^# TYPE warren_broker_request_retries_total counter$/m);
    expect(text).toMatch(/^warren_broker_request_retries_total\{broker="ns\/b"\} 2$/m);
    expect(text).not.toMatch(/^warren_broker_requests\{/m);
    // Nothing of warren's that counts up is a gauge.
    const gauges = [...text.matchAll(/^# TYPE (\S+) gauge$/gm)].map((g) => g[1]);
    expect(gauges.filter((g) => /^warren_.*(_total$|requests|retries)/.test(g!))).toEqual([]);
  });

  it('never goes down when a broker client is made anew and counts from zero', async () => {
    const m = makeMetrics();
    let stats = { byMethod: { GET: 5 }, retries: 1 };
    m.observeBrokerRequests(() => new Map([['ns/b', stats]]));
    await m.registry.metrics();
    stats = { byMethod: { GET: 2 }, retries: 0 }; // a new client (the RabbitBroker's spec changed)
    let text = await m.registry.metrics();
    expect(text).toMatch(/^warren_broker_requests_total\{broker="ns\/b",method="GET"\} 7$/m);
    expect(text).toMatch(/^warren_broker_request_retries_total\{broker="ns\/b"\} 1$/m);
    stats = { byMethod: { GET: 4 }, retries: 0 };
    text = await m.registry.metrics();
    expect(text).toMatch(/^warren_broker_requests_total\{broker="ns\/b",method="GET"\} 9$/m);
  });

  it('says whether each broker is up', async () => {
    const m = makeMetrics();
    m.brokerUp.set({ broker: 'ns/a' }, 1);
    m.brokerUp.set({ broker: 'ns/b' }, 0);
    let text = await m.registry.metrics();
    expect(text).toMatch(/^# TYPE warren_broker_up gauge$/m);
    expect(text).toMatch(/^warren_broker_up\{broker="ns\/a"\} 1$/m);
    expect(text).toMatch(/^warren_broker_up\{broker="ns\/b"\} 0$/m);
    m.brokerUp.remove({ broker: 'ns/b' });
    text = await m.registry.metrics();
    expect(text).not.toMatch(/broker="ns\/b"/);
  });

  it('counts resources by kind, Ready status and reason, without object names', async () => {
    const m = makeMetrics();
    let queues: unknown[] = [
      ready('True', 'Reconciled'),
      ready('True', 'Reconciled'),
      ready('False', 'Rejected'),
      {},
    ];
    m.observeResources(() => [
      ['RabbitQueue', queues as never],
      ['RabbitVhost', [ready('False', 'BrokerUnreachable')] as never],
    ]);
    let text = await m.registry.metrics();
    expect(text).toMatch(/^# TYPE warren_resources gauge$/m);
    expect(text).toMatch(/^warren_resources\{kind="RabbitQueue",ready="True",reason="Reconciled"\} 2$/m);
    expect(text).toMatch(/^warren_resources\{kind="RabbitQueue",ready="False",reason="Rejected"\} 1$/m);
    expect(text).toMatch(/^warren_resources\{kind="RabbitQueue",ready="Unknown",reason="NoStatus"\} 1$/m);
    expect(text).toMatch(
      /^warren_resources\{kind="RabbitVhost",ready="False",reason="BrokerUnreachable"\} 1$/m,
    );
    expect(text.match(/^warren_resources\{.*\}/gm)!.every((l) => !/name=/.test(l))).toBe(true);
    // A combination no resource has any more is gone, not left at its last value.
    queues = [ready('True', 'Reconciled')];
    text = await m.registry.metrics();
    expect(text).toMatch(/^warren_resources\{kind="RabbitQueue",ready="True",reason="Reconciled"\} 1$/m);
    expect(text).not.toMatch(/reason="Rejected"/);
  });
});
