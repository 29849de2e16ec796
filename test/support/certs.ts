import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Throw-away certificates for TLS tests, made with the openssl command line (RSA 2048, 2 days).

export interface Issued {
  cert: string;
  key: string;
}

const openssl = (dir: string, ...args: string[]) =>
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

/** A self-signed CA. */
export function makeCA(dir: string, name: string): Issued {
  mkdirSync(dir, { recursive: true });
  openssl(
    dir,
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2'],
    ...['-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`],
    ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
  );
  return {
    cert: readFileSync(join(dir, `${name}.crt`), 'utf8'),
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
  };
}

/** A leaf certificate signed by `ca`: a server's (with DNS names) or a client's. */
export function issue(
  dir: string,
  ca: Issued,
  name: string,
  opts: { dns?: string[]; client?: boolean },
): Issued {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}-ca.crt`), ca.cert);
  writeFileSync(join(dir, `${name}-ca.key`), ca.key, { mode: 0o600 });
  const ext = [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${opts.client ? 'clientAuth' : 'serverAuth'}`,
    ...(opts.dns?.length ? [`subjectAltName=${opts.dns.map((d) => `DNS:${d}`).join(',')}`] : []),
  ];
  writeFileSync(join(dir, `${name}.ext`), ext.join('\n') + '\n');
  openssl(
    dir,
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${name}`,
  );
  openssl(
    dir,
    ...['x509', '-req', '-in', `${name}.csr`, '-CA', `${name}-ca.crt`, '-CAkey', `${name}-ca.key`],
    ...['-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`],
  );
  return {
    cert: readFileSync(join(dir, `${name}.crt`), 'utf8'),
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
  };
}
