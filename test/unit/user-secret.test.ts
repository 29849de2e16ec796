import { describe, expect, it } from 'vitest';
import { generatedFor } from '../../src/kinds/user.ts';

// Which `<name>-user-credentials` Secrets warren takes for its own (issue #25).
const user = { metadata: { name: 'db', namespace: 'ns', uid: 'uid-db' }, spec: {} } as never;
const LABEL = { 'app.kubernetes.io/managed-by': 'warren' };
const owner = (uid: string) => ({ apiVersion: 'warren.dev/v1alpha1', kind: 'RabbitUser', name: 'db', uid });
const secret = (metadata: Record<string, unknown>) => ({
  metadata: { name: 'db-user-credentials', ...metadata },
});

describe('generatedFor', () => {
  it('takes what warren made: its owner reference to this RabbitUser, with or without the label', () => {
    expect(generatedFor(secret({ labels: LABEL, ownerReferences: [owner('uid-db')] }), user)).toBe(true);
    expect(generatedFor(secret({ ownerReferences: [owner('uid-db')] }), user)).toBe(true);
  });

  it("takes warren's label on a Secret nobody owns (its owner reference removed to keep it)", () => {
    expect(generatedFor(secret({ labels: LABEL }), user)).toBe(true);
  });

  it('refuses anyone else’s: no label, another label, or the label beside another owner', () => {
    expect(generatedFor(secret({}), user)).toBe(false);
    expect(generatedFor(secret({ labels: { 'app.kubernetes.io/managed-by': 'helm' } }), user)).toBe(false);
    expect(generatedFor(secret({ labels: LABEL, ownerReferences: [owner('uid-other')] }), user)).toBe(false);
    expect(generatedFor(secret({ ownerReferences: [owner('uid-other')] }), user)).toBe(false);
  });
});
