import amqp from 'amqplib';
import type { EnvironmentInfo } from './environment.ts';

// A real AMQP 0-9-1 client for data-plane checks: what a message does is the proof.

const url = (env: EnvironmentInfo, vhost: string, user = env.adminUser, password = env.adminPassword) => {
  const u = new URL(env.amqpUrl);
  return `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${u.host}/${encodeURIComponent(vhost)}`;
};

/** Publishes with publisher confirms (persistent messages) to an exchange ('' is the default exchange). */
export async function publish(
  env: EnvironmentInfo,
  vhost: string,
  exchange: string,
  routingKey: string,
  bodies: string[],
  headers?: Record<string, unknown>,
): Promise<void> {
  const conn = await amqp.connect(url(env, vhost));
  try {
    const ch = await conn.createConfirmChannel();
    for (const b of bodies) ch.publish(exchange, routingKey, Buffer.from(b), { persistent: true, headers });
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}

/** Takes every message from a queue (basic.get until empty) and returns the bodies in order. */
export async function drain(
  env: EnvironmentInfo,
  vhost: string,
  queue: string,
  max = 10_000,
): Promise<string[]> {
  const conn = await amqp.connect(url(env, vhost));
  try {
    const ch = await conn.createChannel();
    const out: string[] = [];
    for (let i = 0; i < max; i++) {
      const m = await ch.get(queue, { noAck: true });
      if (!m) break;
      out.push(m.content.toString());
    }
    return out;
  } finally {
    await conn.close();
  }
}
