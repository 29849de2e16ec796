import { z } from 'zod';
import { defineKind, withRules } from './common.ts';

const keyRef = z.object({
  name: z
    .string()
    .min(1)
    .max(253)
    .describe("The Secret's or ConfigMap's name, in the RabbitBroker's namespace."),
  key: z.string().min(1).max(253).default('ca.crt').describe('The key holding the PEM certificates.'),
});

const tlsSpec = withRules(
  z.object({
    ca: withRules(
      z.object({
        secretKeyRef: keyRef
          .optional()
          .describe('A Secret key holding PEM certificates (default key ca.crt).'),
        configMapKeyRef: keyRef
          .optional()
          .describe('A ConfigMap key holding PEM certificates (default key ca.crt).'),
      }),
      {
        rule: 'has(self.secretKeyRef) != has(self.configMapKeyRef)',
        message: 'set exactly one of secretKeyRef and configMapKeyRef',
      },
    )
      .optional()
      .describe('CA certificates trusted besides the system ones. Watched: a change is used at once.'),
    clientCertificateSecretRef: z
      .object({
        name: z.string().min(1).max(253).describe("The Secret's name, in the RabbitBroker's namespace."),
      })
      .optional()
      .describe(
        'A Secret with keys tls.crt and tls.key (type kubernetes.io/tls): the client certificate for mutual TLS. Watched.',
      ),
    serverName: z
      .string()
      .min(1)
      .max(253)
      .optional()
      .describe("The name the server's certificate must carry; defaults to the endpoint's host."),
    insecureSkipVerify: z
      .boolean()
      .default(false)
      .describe(
        "Do not verify the server's certificate (a Warning event says so while it is on). For tests only.",
      ),
  }),
  {
    rule: '!(has(self.insecureSkipVerify) && self.insecureSkipVerify && has(self.ca))',
    message: 'insecureSkipVerify excludes ca',
  },
).describe('TLS to the management API (an https endpoint, or a RabbitmqCluster with TLS).');

const pattern = z.string().min(1).max(255);

const tenantRule = z.object({
  namespaces: z
    .array(pattern)
    .max(64)
    .min(1)
    .describe("Namespace names or patterns ('*' matches any characters, e.g. team-*)."),
  vhosts: z
    .array(pattern)
    .max(64)
    .optional()
    .describe(
      "Vhosts these namespaces' resources may touch, as names or patterns ('*' matches any characters); absent: all, empty: none.",
    ),
  userTags: z
    .array(pattern)
    .max(64)
    .optional()
    .describe(
      "User tags their RabbitUsers may carry; absent: any tag but administrator, policymaker, impersonator and monitoring, which are refused unless listed here. '*' allows every tag.",
    ),
  declareVhosts: z
    .array(pattern)
    .max(64)
    .optional()
    .describe(
      'Vhosts these namespaces may declare as RabbitVhost (create, change, delete), as names or patterns; absent: those vhosts allows; empty: none, they may only use vhosts the platform declares (and its limits stay).',
    ),
  adoptUsers: z
    .array(pattern)
    .max(64)
    .optional()
    .describe(
      'Existing broker users (made by hand, by an import, by another namespace) their RabbitUsers may take over, as names or patterns; absent: none. Users made by their own namespace are always theirs.',
    ),
  operatorPolicies: z
    .boolean()
    .optional()
    .describe(
      "Whether they may declare RabbitOperatorPolicies (the platform's caps, which RabbitMQ lets only administrators set); default false.",
    ),
});

export const RabbitBroker = defineKind({
  kind: 'RabbitBroker',
  plural: 'rabbitbrokers',
  shortName: 'rbroker',
  description: 'A connection to one RabbitMQ cluster through its management API.',
  spec: withRules(
    z.object({
      endpoint: z
        .string()
        .max(2048)
        .regex(/^https?:\/\/[^\s/]+(\/.*)?$/)
        .optional()
        .describe(
          'Management API base URL, e.g. http://rabbitmq.rabbitmq.svc:15672 (or rabbitmqClusterRef).',
        ),
      rabbitmqClusterRef: z
        .object({
          name: z.string().min(1).max(253).describe("The RabbitmqCluster's name."),
          namespace: z
            .string()
            .min(1)
            .max(253)
            .optional()
            .describe(
              "Defaults to the RabbitBroker's namespace. Another namespace's cluster must list this one in its annotation rabbitmq.com/topology-allowed-namespaces.",
            ),
        })
        .optional()
        .describe(
          'A RabbitmqCluster (rabbitmq.com/v1beta1) run by the RabbitMQ Cluster Operator: its Service, management port (TLS when the cluster has TLS) and default user Secret are read from it and followed.',
        ),
      credentialsSecretRef: z
        .object({
          name: z.string().min(1).max(253).describe("The Secret's name, in the RabbitBroker's namespace."),
        })
        .optional()
        .describe(
          "A Secret with keys username and password (an administrator). Required with endpoint; with rabbitmqClusterRef it overrides the cluster's default user.",
        ),
      tls: tlsSpec.optional(),
      amqp: z
        .object({
          host: z
            .string()
            .min(1)
            .max(253)
            .regex(/^[A-Za-z0-9.:[\]-]+$/)
            .optional()
            .describe("The host applications connect to; default: the management endpoint's host."),
          port: z.number().int().min(1).max(65535).optional().describe('Default 5672, or 5671 with tls.'),
          tls: z.boolean().default(false).describe('Applications connect with TLS (amqps://).'),
        })
        .optional()
        .describe(
          'Where applications reach this broker over AMQP, for the connection Secrets RabbitPermissions ask for (spec.connectionSecret).',
        ),
      allowedNamespaces: z
        .array(z.string().min(1).max(253))
        .max(1024)
        .optional()
        .describe("Namespaces whose resources may use this broker besides its own; '*' for all."),
      tenants: z
        .array(tenantRule)
        .max(64)
        .optional()
        .describe(
          "What resources from other namespaces may do: the first rule whose namespaces match applies. A namespace that allowedNamespaces admits and no rule matches may touch and declare every vhost, grant every tag but administrator, policymaker, impersonator and monitoring, declare no operator policy and adopt no existing user. The broker's own namespace is never restricted.",
        ),
      surveyInterval: withRules(
        z
          .string()
          .max(32)
          .regex(/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/),
        {
          rule: "duration(self) >= duration('5s') && duration(self) <= duration('24h')",
          message: 'surveyInterval must be between 5s and 24h',
        },
      )
        .default('30s')
        .describe('How often drift is looked for (a duration such as 30s, 5m; from 5s to 24h).'),
      requestTimeout: withRules(
        z
          .string()
          .max(32)
          .regex(/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/),
        {
          rule: "duration(self) >= duration('1s') && duration(self) <= duration('10m')",
          message: 'requestTimeout must be between 1s and 10m',
        },
      )
        .default('30s')
        .describe(
          'How long one management API request may take (vhost creation and deletion get at least 60s). A slow answer is not an outage: only the reachability probe marks the broker down.',
        ),
      maxConcurrentRequests: z
        .number()
        .int()
        .min(1)
        .max(64)
        .default(8)
        .describe('Requests in flight to this broker.'),
    }),
    {
      rule: 'has(self.endpoint) != has(self.rabbitmqClusterRef)',
      message: 'set exactly one of endpoint and rabbitmqClusterRef',
    },
    {
      rule: 'has(self.rabbitmqClusterRef) || has(self.credentialsSecretRef)',
      message: 'credentialsSecretRef is required with endpoint',
    },
    {
      rule: "!has(self.tls) || !has(self.endpoint) || self.endpoint.startsWith('https://')",
      message: 'tls needs an https:// endpoint (with http:// the credentials travel in clear text)',
    },
  ),
  status: {
    endpoint: z
      .string()
      .max(2048)
      .optional()
      .describe('The management API address in use (discovered with rabbitmqClusterRef).'),
    rabbitmqVersion: z.string().optional().describe('The RabbitMQ version the broker reports.'),
    clusterName: z.string().optional().describe('The cluster name the broker reports.'),
    lastSurveyTime: z
      .string()
      .meta({ format: 'date-time' })
      .optional()
      .describe('When drift was last looked for.'),
    survey: z
      .object({
        lastSurveyTime: z.string().optional().describe('When the survey ran.'),
        durationMs: z.number().int().optional().describe('How long the survey took, in milliseconds.'),
        cpuMs: z
          .number()
          .int()
          .optional()
          .describe("The operator's CPU time while the survey ran (other work at the same time included)."),
        requests: z.number().int().optional().describe('Management API requests the survey made.'),
        managed: z.number().int().optional().describe('Resources declaring objects in this broker.'),
        drifted: z.number().int().optional().describe('Objects found missing or changed, queued for repair.'),
        repaired: z
          .number()
          .int()
          .optional()
          .describe('Objects found drifted and since back in place, counted from the operator start.'),
        unmanaged: z
          .number()
          .int()
          .optional()
          .describe('Broker objects no resource declares (reported, never deleted).'),
        resetDetected: z
          .boolean()
          .optional()
          .describe(
            "Whether warren's marker was missing: a wiped or replaced broker, so everything is declared again.",
          ),
      })
      .optional()
      .describe('The last drift survey.'),
  },
  columns: [
    { name: 'Endpoint', type: 'string', jsonPath: '.status.endpoint' },
    { name: 'Version', type: 'string', jsonPath: '.status.rabbitmqVersion' },
    { name: 'Managed', type: 'integer', jsonPath: '.status.survey.managed', priority: 1 },
    { name: 'Drifted', type: 'integer', jsonPath: '.status.survey.drifted', priority: 1 },
    { name: 'Unmanaged', type: 'integer', jsonPath: '.status.survey.unmanaged', priority: 1 },
    { name: 'Last Survey', type: 'date', jsonPath: '.status.lastSurveyTime', priority: 1 },
  ],
});
export type RabbitBrokerSpec = z.output<typeof RabbitBroker.spec>;
export type TenantRule = z.output<typeof tenantRule>;
