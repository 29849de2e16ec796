// Runs inside the cluster, in a pod of the operator image (it has node and amqplib in /app/node_modules):
//   kubectl exec -i POD -- node - URL QUEUE < amqp-client.cjs
// Publishes one message to QUEUE with publisher confirms, gets it back, prints one JSON line:
// {"ok":true,"body":...} or {"ok":false,"error":...} (a refused login ends here).
/* global require, process, Buffer, setTimeout, console */
// CommonJS, so that `node -` finds amqplib in the working directory's node_modules.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const amqp = require('amqplib');

const [url, queue] = process.argv.slice(2);
const deadline = Date.now() + 20_000;

async function main() {
  const conn = await amqp.connect(url, { timeout: 10_000 });
  try {
    const ch = await conn.createConfirmChannel();
    await ch.checkQueue(queue); // passive: the queue must be warren's, not declared here
    const body = `hello from jack ${Date.now()}`;
    ch.sendToQueue(queue, Buffer.from(body));
    await ch.waitForConfirms();
    while (Date.now() < deadline) {
      const msg = await ch.get(queue, { noAck: true });
      if (msg && msg.content.toString() === body) return { ok: true, body };
      if (!msg) await new Promise((r) => setTimeout(r, 200));
    }
    return { ok: false, error: 'the published message did not come back within 20 s' };
  } finally {
    await conn.close().catch(() => {});
  }
}

main().then(
  (r) => console.log(JSON.stringify(r)),
  (err) => console.log(JSON.stringify({ ok: false, error: String(err && err.message ? err.message : err) })),
);
