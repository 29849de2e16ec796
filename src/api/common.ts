import { z } from 'zod';

export const GROUP = 'warren.dev';
export const VERSION = 'v1alpha1';
/** The finalizer warren puts on a resource of this kind (deploy/optional/finalizer-policy.yaml builds the same). */
export const finalizerOf = (plural: string) => `${plural}.${GROUP}/finalizer`;
export const API_VERSION = `${GROUP}/${VERSION}`;

/** One stable vocabulary for the Ready condition's reason, shared by every kind. */
export const Reasons = {
  Reconciled: 'Reconciled',
  BrokerNotFound: 'BrokerNotFound',
  BrokerNotReady: 'BrokerNotReady',
  BrokerUnreachable: 'BrokerUnreachable',
  /** TLS to the management API: the server's certificate is not trusted (CA, name, validity). */
  CertificateVerificationFailed: 'CertificateVerificationFailed',
  NotAllowed: 'NotAllowed',
  SecretNotFound: 'SecretNotFound',
  InvalidSecret: 'InvalidSecret',
  /** The Secret warren would generate exists and is not warren's: left untouched, nothing written. */
  SecretConflict: 'SecretConflict',
  WaitingForDependency: 'WaitingForDependency',
  Conflict: 'Conflict',
  Rejected: 'Rejected',
  /** A shovel or federation link declared but not running: the broker's reason in the message; it may recover. */
  LinkDown: 'LinkDown',
  DeleteFailed: 'DeleteFailed',
  InvalidSpec: 'InvalidSpec',
} as const;
export type Reason = (typeof Reasons)[keyof typeof Reasons];

export interface Rule {
  rule: string;
  message: string;
}

/** Adds CEL rules to a schema, keeping the ones it already has. */
export function withRules<T extends z.ZodType>(schema: T, ...rules: Rule[]): T {
  const meta = (schema.meta() ?? {}) as Record<string, unknown>;
  const existing = (meta['x-kubernetes-validations'] as Rule[] | undefined) ?? [];
  return schema.meta({ ...meta, 'x-kubernetes-validations': [...existing, ...rules] }) as T;
}

export const immutable = (what: string): Rule => ({
  rule: 'self == oldSelf',
  message: `${what} is immutable`,
});

/** An optional field that may be neither added, removed nor changed after creation. */
export const immutableOptional = (field: string): Rule => ({
  rule: `has(self.${field}) == has(oldSelf.${field}) && (!has(self.${field}) || self.${field} == oldSelf.${field})`,
  message: `${field} is immutable`,
});

// Cowboy resolves the path segments "." and "..", so the management API cannot address them.
const addressable: Rule = {
  rule: "self != '.' && self != '..'",
  message: "must not be '.' or '..': the management API cannot address it",
};

/** Keys a free-form map (arguments, a policy definition) may hold; its values are the broker's. */
export const MAX_MAP_KEYS = 64;

/** Free-form arguments the broker reads, bounded in number (the API server bounds their size). */
export const freeForm = () => z.record(z.string(), z.unknown()).meta({ maxProperties: MAX_MAP_KEYS });

/** A regular expression the broker compiles: bounded, as RabbitMQ bounds nothing. */
export const regexText = () => z.string().max(4096);

/** A broker-side name: a non-empty string the management API can address. */
export const brokerName = (...rules: Rule[]) => withRules(z.string().min(1).max(255), addressable, ...rules);

export const brokerRef = withRules(
  z.object({
    name: z.string().min(1).max(253).describe('The RabbitBroker to use.'),
    namespace: z
      .string()
      .min(1)
      .max(253)
      .optional()
      .describe(
        "The RabbitBroker's namespace; defaults to this resource's. Allowed only if that broker lists this namespace.",
      ),
  }),
  immutable('brokerRef'),
).describe('The RabbitBroker this object lives in.');

/** A Secret in the resource's namespace holding URIs (with their credentials). */
export const uriSecretRef = (description: string) =>
  z.object({ name: z.string().min(1).max(253).describe("The Secret's name.") }).describe(description);

export const deletionPolicy = z
  .enum(['Delete', 'Retain'])
  .default('Delete')
  .describe(
    'What happens in the broker when this resource is deleted. Delete (the default): the broker object is deleted, unless another resource still declares it (ownership passes to it) or, for a vhost, a resource inside it retains its object or the vhost holds queues no resource declares (the vhost is then kept, with a Warning event). Retain: the broker object is left in place, as it is.',
  );

export const vhostField = brokerName(immutable('vhost'))
  .default('/')
  .describe('The broker vhost the object lives in.');

/** metav1.Condition. */
export const condition = z.object({
  type: z
    .string()
    .max(316)
    .describe(
      'The condition: Ready, Reconciling or Stalled on every kind; a RabbitBroker also has Surveyed.',
    ),
  status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
  observedGeneration: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('The generation of the spec this condition was set for.'),
  lastTransitionTime: z
    .string()
    .meta({ format: 'date-time' })
    .describe('When the status last changed from one value to another.'),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .describe(
      'A CamelCase reason from one vocabulary shared by every kind, e.g. Reconciled, BrokerUnreachable.',
    ),
  message: z.string().max(32768).describe("What happened, in words, often with the broker's own message."),
});
export type Condition = z.infer<typeof condition>;

export const baseStatus = {
  observedGeneration: z
    .number()
    .int()
    .optional()
    .describe('The generation warren is done with: its spec reached the broker, or was refused (Stalled).'),
  conditions: z
    .array(condition)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
    .describe(
      'The standard conditions (metav1.Condition, one per type), as kubectl wait, Argo CD and Flux (kstatus) read them: Ready, whose reason says why; Reconciling, True while work is pending or retried; Stalled, True when only a change of the spec, of a Secret or of the broker can help (never both True). A RabbitBroker also has Surveyed (the last drift survey worked, or SurveyFailed).',
    ),
};

export interface Column {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  priority?: number;
  description?: string;
}

export interface KindDef<S extends z.ZodType = z.ZodType, T extends z.ZodType = z.ZodType> {
  kind: string;
  plural: string;
  shortName: string;
  spec: S;
  status: T;
  columns: Column[];
  description: string;
}

export function defineKind<S extends z.ZodType, X extends z.ZodRawShape>(def: {
  kind: string;
  plural: string;
  shortName: string;
  spec: S;
  status?: X;
  columns: Column[];
  description: string;
}): KindDef<S, z.ZodObject<typeof baseStatus & X>> {
  const status = z.object({ ...baseStatus, ...(def.status ?? ({} as X)) });
  return { ...def, status };
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: unknown[];
}

export interface Resource<Spec = unknown, Status = unknown> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}
