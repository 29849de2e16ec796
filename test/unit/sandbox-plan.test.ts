import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { brokerPlan, machineFacts, type MachineFacts } from '../support/broker-plan.ts';

// npm run sandbox's choice of broker (test/support/broker-plan.ts), for the machines it may meet.
// Nothing is installed or removed here: the decision is a function of the facts.
const debianRoot: MachineFacts = {
  platform: 'linux',
  root: true,
  debian: true,
  commands: ['apt-get', 'unshare', 'chroot'],
  packageInstalled: false,
  rootfsBuilt: [],
};

describe("the sandbox's broker plan", () => {
  it('uses the Debian package when it is installed', () => {
    expect(brokerPlan({ ...debianRoot, packageInstalled: true })).toEqual({ kind: 'package' });
    expect(brokerPlan({ ...debianRoot, packageInstalled: true, root: false, commands: [] })).toEqual({
      kind: 'package',
    });
  });

  it('installs the Debian package as root on Debian, saying so', () => {
    const plan = brokerPlan(debianRoot);
    expect(plan.kind).toBe('install-package');
    if (plan.kind !== 'install-package') return;
    expect(plan.say).toContain('apt-get install -y rabbitmq-server');
    expect(plan.command.join(' ')).toMatch(/apt-get update .*&& .*apt-get install -y .*rabbitmq-server$/);
  });

  it("falls back to the project's root filesystem when apt-get install failed", () => {
    const plan = brokerPlan({ ...debianRoot, failed: ['install-package'] });
    expect(plan).toMatchObject({ kind: 'rootfs', broker: '4.0', suite: 'trixie' });
    expect(plan.kind === 'rootfs' && plan.say).toMatch(/building the broker root filesystem .*debootstrap/);
  });

  it('builds the root filesystem as root elsewhere, with debootstrap, or reuses one built before', () => {
    const fedora: MachineFacts = {
      ...debianRoot,
      debian: false,
      commands: ['debootstrap', 'unshare', 'chroot'],
    };
    expect(brokerPlan(fedora)).toMatchObject({ kind: 'rootfs', broker: '4.0' });
    const built = brokerPlan({ ...fedora, commands: ['unshare', 'chroot'], rootfsBuilt: ['trixie'] });
    expect(built).toMatchObject({ kind: 'rootfs', say: expect.stringContaining('built before') });
  });

  it('names what to install when nothing works, in one line', () => {
    const cases: [Partial<MachineFacts>, RegExp][] = [
      [{ root: false }, /sudo apt-get install rabbitmq-server/],
      [
        { platform: 'darwin', debian: false, commands: [] },
        /Linux only; on darwin .*Debian or Ubuntu container/,
      ],
      [{ debian: false, commands: ['unshare', 'chroot'] }, /install debootstrap/],
      [{ debian: false, commands: [] }, /install debootstrap, unshare, chroot/],
      [{ debian: false, root: false, commands: ['debootstrap', 'unshare', 'chroot'] }, /as root/],
      [{ failed: ['install-package', 'rootfs'] }, /apt-get install rabbitmq-server/],
      [{ commands: ['apt-get'], failed: ['install-package'] }, /apt-get install rabbitmq-server/],
    ];
    for (const [facts, message] of cases) {
      const plan = brokerPlan({ ...debianRoot, ...facts });
      expect(plan.kind, JSON.stringify(facts)).toBe('missing');
      if (plan.kind === 'missing') {
        expect(plan.message).toMatch(message);
        expect(plan.message).toMatch(/^npm run sandbox needs RabbitMQ: [^\n]+$/);
      }
    }
  });

  it('runs the root filesystem WARREN_TEST_BROKER asks for, even beside the package', () => {
    const plan = brokerPlan({ ...debianRoot, packageInstalled: true, requested: '4.3' });
    expect(plan).toMatchObject({ kind: 'rootfs', broker: '4.3', suite: 'sid' });
    expect(brokerPlan({ ...debianRoot, requested: '4.3', root: false })).toMatchObject({
      kind: 'missing',
      message: expect.stringMatching(/WARREN_TEST_BROKER=4\.3 .*root/),
    });
    expect(brokerPlan({ ...debianRoot, requested: '3.10', packageInstalled: true })).toEqual({
      kind: 'package',
    });
    expect(brokerPlan({ ...debianRoot, requested: '9' })).toMatchObject({ kind: 'missing' });
  });

  it('never installs without root on Debian, never chroots without root, never plans what failed', () => {
    const commands = ['apt-get', 'debootstrap', 'unshare', 'chroot'];
    const facts = fc.record({
      platform: fc.constantFrom('linux', 'darwin', 'win32'),
      root: fc.boolean(),
      debian: fc.boolean(),
      commands: fc.subarray(commands),
      packageInstalled: fc.boolean(),
      rootfsBuilt: fc.subarray(['trixie', 'sid']),
      requested: fc.constantFrom(undefined, '3.10', '4.0', '4.3'),
      failed: fc.subarray(['install-package', 'rootfs'] as const),
    });
    fc.assert(
      fc.property(facts, (f) => {
        const plan = brokerPlan(f);
        if (plan.kind === 'install-package')
          return (
            f.platform === 'linux' &&
            f.root &&
            f.debian &&
            f.commands.includes('apt-get') &&
            !f.packageInstalled
          );
        if (plan.kind === 'rootfs')
          return (
            f.platform === 'linux' &&
            f.root &&
            f.commands.includes('unshare') &&
            f.commands.includes('chroot') &&
            !f.failed.includes('rootfs')
          );
        if (plan.kind === 'package') return f.packageInstalled && (f.requested ?? '3.10') === '3.10';
        return !plan.message.includes('\n');
      }),
    );
  });

  it("reads this machine's facts", () => {
    const f = machineFacts({ PATH: process.env.PATH, WARREN_TEST_BROKER: '' });
    expect(f.platform).toBe(process.platform);
    expect(f.requested).toBeUndefined();
    expect(f.commands.every((c) => ['apt-get', 'debootstrap', 'unshare', 'chroot'].includes(c))).toBe(true);
    expect(machineFacts({ PATH: '' }).commands).toEqual([]);
    expect(['package', 'install-package', 'rootfs', 'missing']).toContain(brokerPlan(f).kind);
  });
});
