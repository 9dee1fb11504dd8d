import * as z from 'zod';
import { Count, Duration, Name, SecretName, Usd } from './primitives.ts';
import { SandboxPricing } from './sandbox.ts';

/**
 * Org-wide declarations that sit beside the agent definitions: which models exist and
 * what they cost, which MCP servers exist and what their tools may do, budgets, and the
 * names (never values) of the secrets they use.
 */

const PerMillion = z.number({ error: 'expected USD per million tokens' }).min(0, 'expected 0 or more');

export const Price = z.strictObject({
  input_per_mtok: PerMillion,
  output_per_mtok: PerMillion,
  cached_input_per_mtok: PerMillion.optional(),
  cache_write_per_mtok: PerMillion.optional(),
});
export type Price = z.infer<typeof Price>;

const modelCommon = {
  /** The provider's own id for the model. Defaults to the name. */
  model_id: z.string().min(1).optional(),
  price: Price,
  context_window: Count.optional(),
  max_output_tokens: Count.optional(),
  description: z.string().optional(),
};

/**
 * One declaration per model provider, each with its own fields beside the common ones.
 * `ModelProviders` (core/ports/models.ts) is keyed by these providers, so a provider added
 * here without its adapter in adapters/models/index.ts fails the build, and the reverse too.
 */
const PROVIDER_DECLARATIONS = [
  z.strictObject({ provider: z.literal('bedrock'), region: z.string().optional(), ...modelCommon }),
  z.strictObject({
    provider: z.literal('anthropic'),
    secret: SecretName,
    base_url: z.url().optional(),
    ...modelCommon,
  }),
  z.strictObject({
    provider: z.literal('openai'),
    /** Optional: a team's own compatible server may need no key. */
    secret: SecretName.optional(),
    base_url: z.url().optional(),
    ...modelCommon,
  }),
  z.strictObject({
    provider: z.literal('scripted'),
    /** A YAML script of assistant turns, relative to models.yaml. */
    script: z.string().min(1, 'expected the path of the script file'),
    ...modelCommon,
  }),
] as const;

/** In declaration order: bedrock, anthropic, openai, scripted. */
export const PROVIDER_NAMES = PROVIDER_DECLARATIONS.map((declaration) => declaration.shape.provider.value);

export const ModelDeclaration = z.discriminatedUnion('provider', PROVIDER_DECLARATIONS, {
  error: `expected provider: ${PROVIDER_NAMES.slice(0, -1).join(', ')} or ${PROVIDER_NAMES.at(-1)}`,
});
export type ModelDeclaration = z.infer<typeof ModelDeclaration>;
export type ProviderName = ModelDeclaration['provider'];

export const ModelsFile = z.strictObject({
  models: z.record(Name, ModelDeclaration),
  /** What sandbox time costs, metered per run like model tokens. */
  sandbox: SandboxPricing.optional(),
});

export const ToolFlags = z.strictObject({
  description: z.string().optional(),
  /** Changes nothing outside the server: the only kind a checker may be granted. */
  read_only: z.boolean().optional(),
  /** Org-wide: every call pauses for a human in every agent, whatever the agent says. */
  destructive: z.boolean().optional(),
  requires_approval: z.boolean().optional(),
  rate_limit_per_minute: Count.optional(),
  /**
   * The server's own annotations (readOnlyHint, destructiveHint) are defaults a declaration
   * may tighten. Loosening them (declaring read_only a tool the server says writes, or not
   * destructive one it says is) needs this written justification; `looprail validate` lists it.
   */
  override_annotations: z.string().min(10, 'expected a justification of at least a few words').optional(),
  /**
   * The hash of the tool's name, description and input schema when the org reviewed it
   * (`looprail pin`). A server that changes them later has the tool disabled until the
   * declaration is updated: the defence against a tool changing under an agent.
   */
  pin: z
    .string()
    .regex(/^sha256:[0-9a-f]{16}$/, 'expected sha256: and 16 hex digits, as `looprail pin` writes')
    .optional(),
});
export type ToolFlags = z.infer<typeof ToolFlags>;

const StdioTransport = z.strictObject({
  type: z.literal('stdio'),
  /** Resolved against the project's node_modules/.bin first, like an npm script. */
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  /** Plain settings only: values that are secrets go in env_secrets, by name. */
  env: z.record(z.string(), z.string()).default({}),
  env_secrets: z.record(z.string(), SecretName).default({}),
  cwd: z.string().optional(),
});

/** Served by looprail itself (the sandbox server); an org's own server file may not use it. */
const BuiltinTransport = z.strictObject({ type: z.literal('builtin') });

const HttpTransport = z.strictObject({
  type: z.literal('http'),
  url: z.url('expected the Streamable HTTP endpoint URL'),
});

export const McpServerDeclaration = z.strictObject({
  name: Name,
  description: z.string().optional(),
  transport: z.discriminatedUnion('type', [StdioTransport, HttpTransport, BuiltinTransport], {
    error: 'expected transport.type: stdio or http',
  }),
  auth: z
    .strictObject({
      secret: SecretName,
      header: z.string().default('Authorization'),
      scheme: z.string().default('Bearer'),
    })
    .optional(),
  timeouts: z
    .strictObject({
      connect: Duration.optional(),
      call: Duration.optional(),
    })
    .default({}),
  /**
   * Deferred loading (the default): the model first sees only this server's name and
   * description and loads the schemas it needs with looprail__load_tools. An agent's
   * grant may override this per server.
   */
  defer_loading: z.boolean({ error: 'expected true or false' }).optional(),
  /** Every tool the org allows on this server; a tool the server offers but is not listed here is denied. */
  tools: z.record(
    z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected an MCP tool name'),
    ToolFlags.nullable().transform((flags) => flags ?? {}),
  ),
});
export type McpServerDeclaration = z.infer<typeof McpServerDeclaration>;

export const BudgetScope = z.enum(['agent', 'team', 'user', 'model']);

export const BudgetDeclaration = z
  .strictObject({
    name: Name,
    agent: Name.optional(),
    team: Name.optional(),
    user: z.string().min(1).optional(),
    model: Name.optional(),
    period: z.enum(['day', 'week', 'month']),
    limit_usd: Usd.optional(),
    limit_tokens: Count.optional(),
    alert_thresholds: z.array(z.number().gt(0).max(1, 'expected a fraction such as 0.8')).default([0.5, 0.8, 1]),
    alerts: z
      .array(
        z.union(
          [
            z.strictObject({ email: z.email() }),
            z.strictObject({ event: z.literal(true) }),
            z.strictObject({ webhook: z.url() }),
          ],
          { error: 'expected { email }, { event: true } or { webhook }' },
        ),
      )
      .default([]),
    on_exhausted: z.enum(['stop', 'pause_for_human']).default('stop'),
  })
  .refine(
    (budget) => [budget.agent, budget.team, budget.user, budget.model].filter((v) => v !== undefined).length === 1,
    {
      message: 'expected exactly one scope: agent, team, user or model',
    },
  )
  .refine((budget) => budget.limit_usd !== undefined || budget.limit_tokens !== undefined, {
    message: 'expected limit_usd, limit_tokens or both',
  });
export type BudgetDeclaration = z.infer<typeof BudgetDeclaration>;

export const RateLimitDeclaration = z.strictObject({
  agent: Name,
  requests_per_minute: Count.optional(),
  max_concurrent_runs: Count.optional(),
  /** Over requests_per_minute: wait (the step is retried with backoff) or stop the run `rate_limited`. */
  on_rate_limited: z.enum(['wait', 'stop']).default('wait'),
});

export const BudgetsFile = z.strictObject({
  budgets: z.array(BudgetDeclaration).default([]),
  limits: z.array(RateLimitDeclaration).default([]),
});
export type BudgetsFile = z.infer<typeof BudgetsFile>;

export const SecretsFile = z.strictObject({
  secrets: z.record(
    SecretName,
    z
      .strictObject({ description: z.string().optional() })
      .nullable()
      .transform((entry) => entry ?? {}),
  ),
});

/** A scripted model: assistant turns played in order, for offline runs and tests. */
export const ScriptTurn = z.strictObject({
  text: z.string().optional(),
  tool_calls: z
    .array(
      z.strictObject({
        /** `server.tool` as traces show it, or `server__tool` as the model sees it: both name the same tool. */
        tool: z.string().min(1),
        arguments: z.record(z.string(), z.unknown()).default({}),
      }),
    )
    .default([]),
  /** What the provider reports; estimated from the text when left out. */
  usage: z
    .strictObject({
      input_tokens: z.number().int().min(0).optional(),
      output_tokens: z.number().int().min(0).optional(),
      cached_input_tokens: z.number().int().min(0).optional(),
    })
    .optional(),
  /** Milliseconds the turn takes, to make latency visible in demos. */
  delay_ms: z.number().int().min(0).max(60_000).optional(),
  /**
   * Instead of answering, fail as a provider would: an outage (retried, then the fallback), a
   * bad configuration, or a refusal of the prompt as longer than the model's context window.
   */
  error: z.enum(['unavailable', 'configuration', 'context_too_long']).optional(),
});
export type ScriptTurn = z.infer<typeof ScriptTurn>;

export const ModelScript = z.strictObject({
  description: z.string().optional(),
  turns: z.array(ScriptTurn).min(1, 'expected at least one turn'),
  /** After the last turn: fail the call, or play the last turn again (for limit and stall tests). */
  after_last: z.enum(['error', 'repeat_last']).default('error'),
});
export type ModelScript = z.infer<typeof ModelScript>;
