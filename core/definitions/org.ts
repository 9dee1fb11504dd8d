import * as z from 'zod';
import { Count, Duration, Name, SecretName, Usd } from './primitives.ts';
import { SandboxPricing } from './sandbox.ts';

/**
 * Org-wide declarations that sit beside the agent definitions: which models exist and
 * what they cost, which MCP servers exist and what their tools may do, budgets, and the
 * names (never values) of the secrets they use.
 */

const PerMillion = z.number({ error: 'expected USD per million tokens' }).min(0, 'expected 0 or more');

export const Price = z
  .strictObject({
    input_per_mtok: PerMillion.describe('USD per million input tokens.'),
    output_per_mtok: PerMillion.describe('USD per million output tokens.'),
    cached_input_per_mtok: PerMillion.optional().describe(
      'USD per million input tokens read from the prompt cache (default: the input price).',
    ),
    cache_write_per_mtok: PerMillion.optional().describe(
      'USD per million input tokens written to the prompt cache (default: the input price).',
    ),
  })
  .describe('What the model costs: every run records its tokens and cost with these prices.');
export type Price = z.infer<typeof Price>;

const modelCommon = {
  model_id: z
    .string()
    .min(1)
    .optional()
    .describe(
      "The provider's own id for the model, e.g. us.anthropic.claude-sonnet-4-5-20250929-v1:0; defaults to the name.",
    ),
  price: Price,
  context_window: Count.optional().describe(
    "Tokens the model takes in at once; the harness's compact_at is a fraction of it.",
  ),
  max_output_tokens: Count.optional().describe('The most output tokens the model gives in one call.'),
  description: z.string().optional().describe('What the model is for, shown in the inventory.'),
};

/**
 * One declaration per model provider, each with its own fields beside the common ones.
 * `ModelProviders` (core/ports/models.ts) is keyed by these providers, so a provider added
 * here without its adapter in adapters/models/index.ts fails the build, and the reverse too.
 */
const PROVIDER_DECLARATIONS = [
  z
    .strictObject({
      provider: z.literal('bedrock').describe('Amazon Bedrock.'),
      region: z.string().optional().describe("The AWS Region to call (default: the run's own, AWS_REGION)."),
      ...modelCommon,
    })
    .describe('A model on Amazon Bedrock, called with the role of the run (no key).'),
  z
    .strictObject({
      provider: z.literal('anthropic').describe("Anthropic's API."),
      secret: SecretName.describe('The secret (by name, in secrets.yaml) holding the Anthropic API key.'),
      base_url: z
        .url()
        .optional()
        .describe('Another endpoint for the Anthropic API (default: https://api.anthropic.com).'),
      ...modelCommon,
    })
    .describe("A model on Anthropic's API."),
  z
    .strictObject({
      provider: z.literal('openai').describe('An OpenAI-compatible API.'),
      secret: SecretName.optional().describe(
        "The secret (by name) holding the API key; optional: a team's own compatible server may need none.",
      ),
      base_url: z
        .url()
        .optional()
        .describe(
          'Any OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 (default: https://api.openai.com/v1).',
        ),
      ...modelCommon,
    })
    .describe('A model behind an OpenAI-compatible chat completions API.'),
  z
    .strictObject({
      provider: z.literal('scripted').describe('A script of turns (no model).'),
      script: z
        .string()
        .min(1, 'expected the path of the script file')
        .describe('A YAML script of assistant turns, relative to models.yaml, e.g. scripts/triage.yaml.'),
      ...modelCommon,
    })
    .describe('Assistant turns played in order from a script: for offline runs, demos and tests.'),
] as const;

/** In declaration order: bedrock, anthropic, openai, scripted. */
export const PROVIDER_NAMES = PROVIDER_DECLARATIONS.map((declaration) => declaration.shape.provider.value);

export const ModelDeclaration = z.discriminatedUnion('provider', PROVIDER_DECLARATIONS, {
  error: `expected provider: ${PROVIDER_NAMES.slice(0, -1).join(', ')} or ${PROVIDER_NAMES.at(-1)}`,
});
export type ModelDeclaration = z.infer<typeof ModelDeclaration>;
export type ProviderName = ModelDeclaration['provider'];

export const ModelsFile = z.strictObject({
  models: z
    .record(Name, ModelDeclaration)
    .describe('Every model agents may use, by name: its provider, provider fields and price.'),
  sandbox: SandboxPricing.optional().describe('What sandbox time costs, metered per run like model tokens.'),
});

export const ToolFlags = z
  .strictObject({
    description: z
      .string()
      .optional()
      .describe("Replaces the server's description of the tool, as the model reads it."),
    read_only: z
      .boolean()
      .optional()
      .describe('Changes nothing outside the server: the only kind a checker may be granted.'),
    destructive: z
      .boolean()
      .optional()
      .describe('Org-wide: every call pauses for a human in every agent, whatever the agent says.'),
    requires_approval: z.boolean().optional().describe('Org-wide: every call waits for a human in every agent.'),
    rate_limit_per_minute: Count.optional().describe(
      'Calls a minute across the org, every agent and run together; more are refused.',
    ),
    override_annotations: z
      .string()
      .min(10, 'expected a justification of at least a few words')
      .optional()
      .describe(
        "The server's annotations (readOnlyHint, destructiveHint) are defaults a declaration may tighten; loosening them needs this written justification, which `looprail validate` lists.",
      ),
    pin: z
      .string()
      .regex(/^sha256:[0-9a-f]{16}$/, 'expected sha256: and 16 hex digits, as `looprail pin` writes')
      .optional()
      .describe(
        "The hash of the tool's name, description and input schema when reviewed (`looprail pin`): a tool that changes later is disabled until pinned again.",
      ),
  })
  .describe('What the org allows of one tool.');
export type ToolFlags = z.infer<typeof ToolFlags>;

const StdioTransport = z
  .strictObject({
    type: z.literal('stdio').describe('A local process.'),
    command: z
      .string()
      .min(1)
      .describe(
        "The program to start: found in the project's node_modules/.bin first, like an npm script, then on PATH.",
      ),
    args: z.array(z.string()).default([]).describe('Its arguments.'),
    env: z
      .record(z.string(), z.string())
      .default({})
      .describe('Plain settings only: values that are secrets go in env_secrets, by name.'),
    env_secrets: z
      .record(z.string(), SecretName)
      .default({})
      .describe('Environment variables set from secrets: variable → secret name (in secrets.yaml).'),
    cwd: z.string().optional().describe('The folder it runs in, relative to the project (default: the project root).'),
  })
  .describe('A server started as a local process, spoken to on stdin and stdout.');

/** Served by looprail itself (the sandbox server); an org's own server file may not use it. */
const BuiltinTransport = z
  .strictObject({ type: z.literal('builtin').describe("looprail's own.") })
  .describe("Served by looprail itself (the sandbox server); an org's own server file may not use it.");

const HttpTransport = z
  .strictObject({
    type: z.literal('http').describe('A remote server.'),
    url: z.url('expected the Streamable HTTP endpoint URL').describe('The Streamable HTTP endpoint.'),
  })
  .describe('A remote server over Streamable HTTP.');

export const McpServerDeclaration = z.strictObject({
  name: Name.describe("The server's name: its file's name, and what agents grant."),
  description: z
    .string()
    .optional()
    .describe('What the server is for: a deferred server shows the model only its name and this.'),
  transport: z
    .discriminatedUnion('type', [StdioTransport, HttpTransport, BuiltinTransport], {
      error: 'expected transport.type: stdio or http',
    })
    .describe('How to reach the server: stdio (a local process) or http.'),
  auth: z
    .strictObject({
      secret: SecretName.describe('The secret (by name, in secrets.yaml) holding the token.'),
      header: z.string().default('Authorization').describe('The header it is sent in.'),
      scheme: z.string().default('Bearer').describe('What precedes the token in the header (empty for none).'),
    })
    .optional()
    .describe('A token sent with every request to an http server.'),
  timeouts: z
    .strictObject({
      connect: Duration.optional().describe('How long starting or connecting may take.'),
      call: Duration.optional().describe('How long one tool call may take.'),
    })
    .default({})
    .describe('Time limits, e.g. 30s.'),
  defer_loading: z
    .boolean({ error: 'expected true or false' })
    .optional()
    .describe(
      "Deferred loading (the default): the model first sees only this server's name and description and loads the schemas it needs with looprail__load_tools. An agent's grant may override this.",
    ),
  tools: z
    .record(
      z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected an MCP tool name'),
      ToolFlags.nullable().transform((flags) => flags ?? {}),
    )
    .describe(
      'Every tool the org allows on this server, by its MCP name, with its flags (or nothing); a tool the server offers but is not listed here is denied.',
    ),
});
export type McpServerDeclaration = z.infer<typeof McpServerDeclaration>;

export const BudgetScope = z.enum(['agent', 'team', 'user', 'model']);

export const BudgetDeclaration = z
  .strictObject({
    name: Name.describe("The budget's name, as alerts and stop details name it."),
    agent: Name.optional().describe('Scope: the runs of this agent (exactly one of agent, team, user, model).'),
    team: Name.optional().describe('Scope: the runs of every agent of this team.'),
    user: z.string().min(1).optional().describe('Scope: the runs this principal started, e.g. noor@example.com.'),
    model: Name.optional().describe('Scope: every call to this model (a name in models.yaml).'),
    period: z.enum(['day', 'week', 'month']).describe('The budget starts afresh each period (UTC).'),
    limit_usd: Usd.optional().describe('USD the scope may spend in a period (limit_usd, limit_tokens or both).'),
    limit_tokens: Count.optional().describe('Tokens the scope may use in a period.'),
    alert_thresholds: z
      .array(z.number().gt(0).max(1, 'expected a fraction such as 0.8'))
      .default([0.5, 0.8, 1])
      .describe('Fractions of the limit at which the alerts are sent, once each period.'),
    alerts: z
      .array(
        z.union(
          [
            z.strictObject({ email: z.email().describe('Mail this address.') }),
            z.strictObject({ event: z.literal(true).describe('Put an event on the EventBridge bus.') }),
            z.strictObject({ webhook: z.url().describe('POST to this (Slack-compatible) webhook.') }),
          ],
          { error: 'expected { email }, { event: true } or { webhook }' },
        ),
      )
      .default([])
      .describe('Where alerts go: { email }, { event: true } or { webhook }.'),
    on_exhausted: z
      .enum(['stop', 'pause_for_human'])
      .default('stop')
      .describe('A call the budget cannot cover: stop the run `budget_exhausted`, or wait for a human to allow it.'),
  })
  .refine(
    (budget) => [budget.agent, budget.team, budget.user, budget.model].filter((v) => v !== undefined).length === 1,
    {
      message: 'expected exactly one scope: agent, team, user or model',
    },
  )
  .refine((budget) => budget.limit_usd !== undefined || budget.limit_tokens !== undefined, {
    message: 'expected limit_usd, limit_tokens or both',
  })
  .describe('A spending limit over a period, for an agent, a team, a user or a model.');
export type BudgetDeclaration = z.infer<typeof BudgetDeclaration>;

export const RateLimitDeclaration = z
  .strictObject({
    agent: Name.describe('The agent limited.'),
    requests_per_minute: Count.optional().describe('Model calls a minute across its runs.'),
    max_concurrent_runs: Count.optional().describe('Runs at once; a run started beyond this is refused.'),
    on_rate_limited: z
      .enum(['wait', 'stop'])
      .default('wait')
      .describe('Over requests_per_minute: wait (the step is retried with backoff) or stop the run `rate_limited`.'),
  })
  .describe("Limits on an agent's rate of model calls and on its runs at once.");

export const BudgetsFile = z.strictObject({
  budgets: z.array(BudgetDeclaration).default([]).describe('Spending limits.'),
  limits: z.array(RateLimitDeclaration).default([]).describe('Rate and concurrency limits per agent.'),
});
export type BudgetsFile = z.infer<typeof BudgetsFile>;

export const SecretsFile = z.strictObject({
  secrets: z
    .record(
      SecretName,
      z
        .strictObject({ description: z.string().optional().describe('What it is for.') })
        .nullable()
        .transform((entry) => entry ?? {}),
    )
    .describe(
      'The secrets definitions may name, by name only, never a value: values live in Secrets Manager (or `looprail secrets set` locally).',
    ),
});

/** A scripted model: assistant turns played in order, for offline runs and tests. */
export const ScriptTurn = z
  .strictObject({
    text: z
      .string()
      .optional()
      .describe("The assistant's text; a turn with text and no tool calls is the final answer."),
    tool_calls: z
      .array(
        z.strictObject({
          tool: z
            .string()
            .min(1)
            .describe(
              'The tool: `server.tool` as traces show it, or `server__tool` as the model sees it (both name the same tool), or a built-in such as looprail__load_tools.',
            ),
          arguments: z.record(z.string(), z.unknown()).default({}).describe("The call's arguments."),
        }),
      )
      .default([])
      .describe(
        "Tool calls made in this turn; a deferred server's tools must be loaded (looprail__load_tools) in an earlier turn.",
      ),
    usage: z
      .strictObject({
        input_tokens: z.number().int().min(0).optional().describe('Input tokens of the call.'),
        output_tokens: z.number().int().min(0).optional().describe('Output tokens of the turn.'),
        cached_input_tokens: z.number().int().min(0).optional().describe('Input tokens read from the prompt cache.'),
      })
      .optional()
      .describe('What the provider reports; estimated from the text when left out.'),
    delay_ms: z
      .number()
      .int()
      .min(0)
      .max(60_000)
      .optional()
      .describe('Milliseconds the turn takes, to make latency visible in demos.'),
    error: z
      .enum(['unavailable', 'configuration', 'context_too_long'])
      .optional()
      .describe(
        "Instead of answering, fail as a provider would: an outage (retried, then the fallback), a bad configuration, or a refusal of the prompt as longer than the model's context window.",
      ),
  })
  .describe('One assistant turn: text, tool calls, or a provider error.');
export type ScriptTurn = z.infer<typeof ScriptTurn>;

export const ModelScript = z.strictObject({
  description: z.string().optional().describe('What the script plays.'),
  turns: z
    .array(ScriptTurn)
    .min(1, 'expected at least one turn')
    .describe('The assistant turns, played one per model call.'),
  after_last: z
    .enum(['error', 'repeat_last'])
    .default('error')
    .describe('After the last turn: fail the call, or play the last turn again (for limit and stall tests).'),
});
export type ModelScript = z.infer<typeof ModelScript>;
