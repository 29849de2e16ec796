// node bench/redaction.ts: masking URI passwords in a text that the old regular expression took quadratic time on.
import { maskUriPasswords } from '../src/rabbitmq/errors.ts';
const OLD = /([a-z][a-z0-9+.-]*:\/\/[^\s:@/"']*):[^\s@/"']*@/gi;
for (const n of [10_000, 40_000, 1_000_000]) {
  const s = 'a'.repeat(n);
  let t = performance.now();
  maskUriPasswords(s);
  const fresh = performance.now() - t;
  let old = NaN;
  if (n <= 40_000) {
    t = performance.now();
    s.replace(OLD, '$1:***@');
    old = performance.now() - t;
  }
  console.log(
    `${n} chars: new ${fresh.toFixed(1)} ms, old ${Number.isNaN(old) ? 'not run' : old.toFixed(0) + ' ms'}`,
  );
}
