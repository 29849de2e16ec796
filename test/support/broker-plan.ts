// Where `npm run sandbox` gets its RabbitMQ on a fresh machine, in this order:
//   1. the Debian package rabbitmq-server, already installed (the broker the tests use, 3.10 on bookworm);
//   2. that package installed now, when we are root on Debian (or a derivative) with apt-get;
//   3. the project's broker root filesystem (test/rabbitmq-rootfs/build.sh: debootstrap of Debian
//      trixie with its rabbitmq-server, cached under ~/.cache/warren/rabbitmq), run by the harness in a
//      chroot of its own mount namespace (test/support/rabbitmq.ts): needs root, unshare and chroot,
//      and debootstrap (build.sh installs it with apt-get) unless it is already built;
//   4. otherwise one line naming what to install.
// brokerPlan is the decision alone, a pure function of what the machine has (test/unit/sandbox-plan.test.ts);
// machineFacts looks at the machine.
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface MachineFacts {
  /** process.platform */
  platform: string;
  root: boolean;
  /** /etc/debian_version exists (Debian, Ubuntu and their derivatives) */
  debian: boolean;
  /** Programs found on PATH, of those the plans use: apt-get, debootstrap, unshare, chroot. */
  commands: string[];
  /** /usr/lib/rabbitmq/bin/rabbitmq-server exists */
  packageInstalled: boolean;
  /** The suites (trixie, sid) whose root filesystem is already built in the cache. */
  rootfsBuilt: string[];
  /** WARREN_TEST_BROKER, if set: 3.10 (the package), 4.0 (trixie) or 4.3 (sid). */
  requested?: string;
  /** Plans already tried that failed (an apt-get install that did not work, say). */
  failed?: BrokerPlan['kind'][];
}

export type BrokerPlan =
  | { kind: 'package' }
  | { kind: 'install-package'; say: string; command: string[] }
  | { kind: 'rootfs'; broker: string; suite: string; say: string }
  | { kind: 'missing'; message: string };

/** The root filesystems the harness can run, by WARREN_TEST_BROKER (test/support/rabbitmq.ts). */
const ROOTFS_SUITES: Record<string, string> = { '4.0': 'trixie', '4.3': 'sid' };
/** The root filesystem the sandbox falls back to: Debian's stable suite. */
const FALLBACK_BROKER = '4.0';

const INSTALL_COMMAND = [
  'sh',
  '-c',
  'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server',
];

export function brokerPlan(f: MachineFacts): BrokerPlan {
  const has = (c: string) => f.commands.includes(c);
  const failed = (k: BrokerPlan['kind']) => (f.failed ?? []).includes(k);
  const rootfs = (broker: string): BrokerPlan | undefined => {
    const suite = ROOTFS_SUITES[broker]!;
    const built = f.rootfsBuilt.includes(suite);
    if (failed('rootfs') || f.platform !== 'linux' || !f.root || !has('unshare') || !has('chroot'))
      return undefined;
    if (!built && !has('debootstrap') && !has('apt-get')) return undefined;
    return {
      kind: 'rootfs',
      broker,
      suite,
      say: built
        ? `using the broker root filesystem (Debian ${suite}, RabbitMQ ${broker}) built before`
        : `building the broker root filesystem (Debian ${suite}, RabbitMQ ${broker}) with debootstrap into ` +
          '~/.cache/warren/rabbitmq: once, a few minutes (test/rabbitmq-rootfs/build.sh)',
    };
  };

  const requested = f.requested || '3.10';
  if (requested !== '3.10') {
    if (!(requested in ROOTFS_SUITES))
      return { kind: 'missing', message: `WARREN_TEST_BROKER=${requested}: choose 3.10, 4.0 or 4.3` };
    return (
      rootfs(requested) ?? {
        kind: 'missing',
        message:
          `WARREN_TEST_BROKER=${requested} runs RabbitMQ in a Debian ${ROOTFS_SUITES[requested]} root filesystem: ` +
          'that needs Linux, root, unshare and chroot (util-linux, coreutils) and debootstrap',
      }
    );
  }
  if (f.packageInstalled) return { kind: 'package' };
  if (f.platform === 'linux' && f.root && f.debian && has('apt-get') && !failed('install-package'))
    return {
      kind: 'install-package',
      say: 'RabbitMQ is not installed: installing the Debian package rabbitmq-server (apt-get install -y rabbitmq-server)',
      command: INSTALL_COMMAND,
    };
  const fallback = rootfs(FALLBACK_BROKER);
  if (fallback) return fallback;
  return { kind: 'missing', message: missingMessage(f) };
}

/** One line: what to install (or do) so that the next `npm run sandbox` finds a broker. */
function missingMessage(f: MachineFacts): string {
  const head = 'npm run sandbox needs RabbitMQ:';
  if (f.platform !== 'linux')
    return (
      `${head} it runs the broker of Debian's rabbitmq-server package, on Linux only; on ${f.platform} run it in ` +
      'a Debian or Ubuntu container or VM (docker run -it -v "$PWD:/warren" -w /warren node:24-bookworm), as root'
    );
  if (f.debian && !f.root)
    return `${head} sudo apt-get install rabbitmq-server (or run npm run sandbox as root, which installs it)`;
  if (f.debian) return `${head} apt-get install rabbitmq-server (apt-get install did not work here)`;
  if (!f.root)
    return `${head} run npm run sandbox as root, to build its Debian root filesystem with debootstrap (not a Debian system)`;
  const need = ['debootstrap', 'unshare', 'chroot'].filter((c) => !f.commands.includes(c));
  return `${head} install ${need.length ? need.join(', ') : 'debootstrap'} (your distribution's packages: debootstrap, util-linux, coreutils), to build its Debian root filesystem`;
}

/** What this machine has. */
export function machineFacts(env: NodeJS.ProcessEnv = process.env): MachineFacts {
  const onPath = (c: string) => (env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, c)));
  const cache = join(
    env.WARREN_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'warren'),
    'rabbitmq',
  );
  const rootfsBuilt = Object.values(ROOTFS_SUITES).filter((suite) =>
    (existsSync(cache) ? readdirSync(cache) : []).some(
      (d) => d.startsWith(`${suite}-`) && existsSync(join(cache, d, 'usr/lib/rabbitmq/bin/rabbitmq-server')),
    ),
  );
  return {
    platform: process.platform,
    root: process.getuid?.() === 0,
    debian: existsSync('/etc/debian_version'),
    commands: ['apt-get', 'debootstrap', 'unshare', 'chroot'].filter(onPath),
    packageInstalled: existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server'),
    rootfsBuilt,
    requested: env.WARREN_TEST_BROKER || undefined,
  };
}
