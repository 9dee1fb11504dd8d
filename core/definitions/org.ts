import * as z from './zod.ts';
import { Count, Duration, Name, SecretName, Usd } from './primitives.ts';
import { SandboxPricing } from './sandbox.ts';

/**
 * Org-wide declarations that sit beside the agent definitions: which models exist and
 * what they cost, which MCP servers exist and what their tools may do, budgets, and the
 * names (never values) of the secrets they use.
 */

const PerMillion = z.number({ error: 'expected USD per million tokens' }).check(z.minimum(0, 'expected 0 or more'));

export const Price = z
  .strictObject({
    input_per_mtok: PerMillion.check(z.describe('USD per million input tokens.')),
    output_per_mtok: PerMillion.check(z.describe('USD per million output tokens.')),
    cached_input_per_mtok: z
      .optional(PerMillion)
      .check(z.describe('USD per million input tokens read from the prompt cache (default: the input price).')),
    cache_write_per_mtok: z
      .optional(PerMillion)
      .check(z.describe('USD per million input tokens written to the prompt cache (default: the input price).')),
  })
  .check(z.describe('What the model costs: every run records its tokens and cost with these prices.'));
export type Price = z.infer<typeof Price>;

const modelCommon = {
  model_id: z
    .optional(z.string().check(z.minLength(1)))
    .check(
      z.describe(
        "The provider's own id for the model, e.g. us.anthropic.claude-sonnet-4-5-20250929-v1:0; defaults to the name.",
      ),
    ),
  price: Price,
  context_window: z
    .optional(Count)
    .check(z.describe("Tokens the model takes in at once; the harness's compact_at is a fraction of it.")),
  max_output_tokens: z.optional(Count).check(z.describe('The most output tokens the model gives in one call.')),
  description: z.optional(z.string()).check(z.describe('What the model is for, shown in the inventory.')),
};

/**
 * One declaration per model provider, each with its own fields beside the common ones.
 * `ModelProviders` (core/ports/models.ts) is keyed by these providers, so a provider added
 * here without its adapter in adapters/models/index.ts fails the build, and the reverse too.
 */
const PROVIDER_DECLARATIONS = [
  z
    .strictObject({
      provider: z.literal('bedrock').check(z.describe('Amazon Bedrock.')),
      region: z.optional(z.string()).check(z.describe("The AWS Region to call (default: the run's own, AWS_REGION).")),
      ...modelCommon,
    })
    .check(z.describe('A model on Amazon Bedrock, called with the role of the run (no key).')),
  z
    .strictObject({
      provider: z.literal('anthropic').check(z.describe("Anthropic's API.")),
      secret: SecretName.check(z.describe('The secret (by name, in secrets.yaml) holding the Anthropic API key.')),
      base_url: z
        .optional(z.url())
        .check(z.describe('Another endpoint for the Anthropic API (default: https://api.anthropic.com).')),
      ...modelCommon,
    })
    .check(z.describe("A model on Anthropic's API.")),
  z
    .strictObject({
      provider: z.literal('openai').check(z.describe('An OpenAI-compatible API.')),
      secret: z
        .optional(SecretName)
        .check(
          z.describe(
            "The secret (by name) holding the API key; optional: a team's own compatible server may need none.",
          ),
        ),
      base_url: z
        .optional(z.url())
        .check(
          z.describe(
            'Any OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 (default: https://api.openai.com/v1).',
          ),
        ),
      ...modelCommon,
    })
    .check(z.describe('A model behind an OpenAI-compatible chat completions API.')),
  z
    .strictObject({
      provider: z.literal('scripted').check(z.describe('A script of turns (no model).')),
      script: z
        .string()
        .check(
          z.minLength(1, 'expected the path of the script file'),
          z.describe('A YAML script of assistant turns, relative to models.yaml, e.g. scripts/triage.yaml.'),
        ),
      ...modelCommon,
    })
    .check(z.describe('Assistant turns played in order from a script: for offline runs, demos and tests.')),
] as const;

/** In declaration order: bedrock, anthropic, openai, scripted. */
export const PROVIDER_NAMES = PROVIDER_DECLARATIONS.map((declaration) => declaration.shape.provider.def.values[0]!);

export const ModelDeclaration = z.discriminatedUnion('provider', PROVIDER_DECLARATIONS, {
  error: `expected provider: ${PROVIDER_NAMES.slice(0, -1).join(', ')} or ${PROVIDER_NAMES.at(-1)}`,
});
export type ModelDeclaration = z.infer<typeof ModelDeclaration>;
export type ProviderName = ModelDeclaration['provider'];

export const ModelsFile = z.strictObject({
  models: z
    .record(Name, ModelDeclaration)
    .check(z.describe('Every model agents may use, by name: its provider, provider fields and price.')),
  sandbox: z.optional(SandboxPricing).check(z.describe('What sandbox time costs, metered per run like model tokens.')),
});

export const ToolFlags = z
  .strictObject({
    description: z
      .optional(z.string())
      .check(z.describe("Replaces the server's description of the tool, as the model reads it.")),
    read_only: z
      .optional(z.boolean())
      .check(z.describe('Changes nothing outside the server: the only kind a checker may be granted.')),
    destructive: z
      .optional(z.boolean())
      .check(z.describe('Org-wide: every call pauses for a human in every agent, whatever the agent says.')),
    requires_approval: z
      .optional(z.boolean())
      .check(z.describe('Org-wide: every call waits for a human in every agent.')),
    rate_limit_per_minute: z
      .optional(Count)
      .check(z.describe('Calls a minute across the org, every agent and run together; more are refused.')),
    override_annotations: z
      .optional(z.string().check(z.minLength(10, 'expected a justification of at least a few words')))
      .check(
        z.describe(
          "The server's annotations (readOnlyHint, destructiveHint) are defaults a declaration may tighten; loosening them needs this written justification, which `looprail validate` lists.",
        ),
      ),
    pin: z
      .optional(
        z
          .string()
          .check(z.regex(/^sha256:[0-9a-f]{16}$/, 'expected sha256: and 16 hex digits, as `looprail pin` writes')),
      )
      .check(
        z.describe(
          "The hash of the tool's name, description and input schema when reviewed (`looprail pin`): a tool that changes later is disabled until pinned again.",
        ),
      ),
  })
  .check(z.describe('What the org allows of one tool.'));
export type ToolFlags = z.infer<typeof ToolFlags>;

const StdioTransport = z
  .strictObject({
    type: z.literal('stdio').check(z.describe('A local process.')),
    command: z
      .string()
      .check(
        z.minLength(1),
        z.describe(
          "The program to start: found in the project's node_modules/.bin first, like an npm script, then on PATH.",
        ),
      ),
    args: z._default(z.array(z.string()), []).check(z.describe('Its arguments.')),
    env: z
      ._default(z.record(z.string(), z.string()), {})
      .check(z.describe('Plain settings only: values that are secrets go in env_secrets, by name.')),
    env_secrets: z
      ._default(z.record(z.string(), SecretName), {})
      .check(z.describe('Environment variables set from secrets: variable → secret name (in secrets.yaml).')),
    cwd: z
      .optional(z.string())
      .check(z.describe('The folder it runs in, relative to the project (default: the project root).')),
  })
  .check(z.describe('A server started as a local process, spoken to on stdin and stdout.'));

/** Served by looprail itself (the sandbox server); an org's own server file may not use it. */
const BuiltinTransport = z
  .strictObject({ type: z.literal('builtin').check(z.describe("looprail's own.")) })
  .check(z.describe("Served by looprail itself (the sandbox server); an org's own server file may not use it."));

const HttpTransport = z
  .strictObject({
    type: z.literal('http').check(z.describe('A remote server.')),
    url: z.url('expected the Streamable HTTP endpoint URL').check(z.describe('The Streamable HTTP endpoint.')),
  })
  .check(z.describe('A remote server over Streamable HTTP.'));

export const McpServerDeclaration = z.strictObject({
  name: Name.check(z.describe("The server's name: its file's name, and what agents grant.")),
  description: z
    .optional(z.string())
    .check(z.describe('What the server is for: a deferred server shows the model only its name and this.')),
  transport: z
    .discriminatedUnion('type', [StdioTransport, HttpTransport, BuiltinTransport], {
      error: 'expected transport.type: stdio or http',
    })
    .check(z.describe('How to reach the server: stdio (a local process) or http.')),
  auth: z
    .optional(
      z.strictObject({
        secret: SecretName.check(z.describe('The secret (by name, in secrets.yaml) holding the token.')),
        header: z._default(z.string(), 'Authorization').check(z.describe('The header it is sent in.')),
        scheme: z
          ._default(z.string(), 'Bearer')
          .check(z.describe('What precedes the token in the header (empty for none).')),
      }),
    )
    .check(z.describe('A token sent with every request to an http server.')),
  timeouts: z
    ._default(
      z.strictObject({
        connect: z.optional(Duration).check(z.describe('How long starting or connecting may take.')),
        call: z.optional(Duration).check(z.describe('How long one tool call may take.')),
      }),
      {},
    )
    .check(z.describe('Time limits, e.g. 30s.')),
  defer_loading: z
    .optional(z.boolean({ error: 'expected true or false' }))
    .check(
      z.describe(
        "Deferred loading (the default): the model first sees only this server's name and description and loads the schemas it needs with looprail__load_tools. An agent's grant may override this.",
      ),
    ),
  tools: z
    .record(
      z.string().check(z.regex(/^[A-Za-z0-9_.-]+$/, 'expected an MCP tool name')),
      z.pipe(
        z.nullable(ToolFlags),
        z.transform((flags: ToolFlags | null) => flags ?? {}),
      ),
    )
    .check(
      z.describe(
        'Every tool the org allows on this server, by its MCP name, with its flags (or nothing); a tool the server offers but is not listed here is denied.',
      ),
    ),
});
export type McpServerDeclaration = z.infer<typeof McpServerDeclaration>;

export const BudgetScope = z.enum(['agent', 'team', 'user', 'model']);

export const BudgetDeclaration = z
  .strictObject({
    name: Name.check(z.describe("The budget's name, as alerts and stop details name it.")),
    agent: z
      .optional(Name)
      .check(z.describe('Scope: the runs of this agent (exactly one of agent, team, user, model).')),
    team: z.optional(Name).check(z.describe('Scope: the runs of every agent of this team.')),
    user: z
      .optional(z.string().check(z.minLength(1)))
      .check(z.describe('Scope: the runs this principal started, e.g. noor@example.com.')),
    model: z.optional(Name).check(z.describe('Scope: every call to this model (a name in models.yaml).')),
    period: z.enum(['day', 'week', 'month']).check(z.describe('The budget starts afresh each period (UTC).')),
    limit_usd: z
      .optional(Usd)
      .check(z.describe('USD the scope may spend in a period (limit_usd, limit_tokens or both).')),
    limit_tokens: z.optional(Count).check(z.describe('Tokens the scope may use in a period.')),
    alert_thresholds: z
      ._default(z.array(z.number().check(z.gt(0), z.maximum(1, 'expected a fraction such as 0.8'))), [0.5, 0.8, 1])
      .check(z.describe('Fractions of the limit at which the alerts are sent, once each period.')),
    alerts: z
      ._default(
        z.array(
          z.union(
            [
              z.strictObject({ email: z.email().check(z.describe('Mail this address.')) }),
              z.strictObject({ event: z.literal(true).check(z.describe('Put an event on the EventBridge bus.')) }),
              z.strictObject({ webhook: z.url().check(z.describe('POST to this (Slack-compatible) webhook.')) }),
            ],
            { error: 'expected { email }, { event: true } or { webhook }' },
          ),
        ),
        [],
      )
      .check(z.describe('Where alerts go: { email }, { event: true } or { webhook }.')),
    on_exhausted: z
      ._default(z.enum(['stop', 'pause_for_human']), 'stop')
      .check(
        z.describe('A call the budget cannot cover: stop the run `budget_exhausted`, or wait for a human to allow it.'),
      ),
  })
  .check(
    z.refine(
      (budget) => [budget.agent, budget.team, budget.user, budget.model].filter((v) => v !== undefined).length === 1,
      {
        message: 'expected exactly one scope: agent, team, user or model',
      },
    ),
    z.refine((budget) => budget.limit_usd !== undefined || budget.limit_tokens !== undefined, {
      message: 'expected limit_usd, limit_tokens or both',
    }),
    z.describe('A spending limit over a period, for an agent, a team, a user or a model.'),
  );
export type BudgetDeclaration = z.infer<typeof BudgetDeclaration>;

export const RateLimitDeclaration = z
  .strictObject({
    agent: Name.check(z.describe('The agent limited.')),
    requests_per_minute: z.optional(Count).check(z.describe('Model calls a minute across its runs.')),
    max_concurrent_runs: z.optional(Count).check(z.describe('Runs at once; a run started beyond this is refused.')),
    on_rate_limited: z
      ._default(z.enum(['wait', 'stop']), 'wait')
      .check(
        z.describe('Over requests_per_minute: wait (the step is retried with backoff) or stop the run `rate_limited`.'),
      ),
  })
  .check(z.describe("Limits on an agent's rate of model calls and on its runs at once."));

export const BudgetsFile = z.strictObject({
  budgets: z._default(z.array(BudgetDeclaration), []).check(z.describe('Spending limits.')),
  limits: z._default(z.array(RateLimitDeclaration), []).check(z.describe('Rate and concurrency limits per agent.')),
});
export type BudgetsFile = z.infer<typeof BudgetsFile>;

const SecretEntry = z.strictObject({
  description: z.optional(z.string()).check(z.describe('What it is for.')),
});

export const SecretsFile = z.strictObject({
  secrets: z
    .record(
      SecretName,
      z.pipe(
        z.nullable(SecretEntry),
        z.transform((entry: z.output<typeof SecretEntry> | null) => entry ?? {}),
      ),
    )
    .check(
      z.describe(
        'The secrets definitions may name, by name only, never a value: values live in Secrets Manager (or `looprail secrets set` locally).',
      ),
    ),
});

/** A scripted model: assistant turns played in order, for offline runs and tests. */
export const ScriptTurn = z
  .strictObject({
    text: z
      .optional(z.string())
      .check(z.describe("The assistant's text; a turn with text and no tool calls is the final answer.")),
    tool_calls: z
      ._default(
        z.array(
          z.strictObject({
            tool: z
              .string()
              .check(
                z.minLength(1),
                z.describe(
                  'The tool: `server.tool` as traces show it, or `server__tool` as the model sees it (both name the same tool), or a built-in such as looprail__load_tools.',
                ),
              ),
            arguments: z._default(z.record(z.string(), z.unknown()), {}).check(z.describe("The call's arguments.")),
          }),
        ),
        [],
      )
      .check(
        z.describe(
          "Tool calls made in this turn; a deferred server's tools must be loaded (looprail__load_tools) in an earlier turn.",
        ),
      ),
    usage: z
      .optional(
        z.strictObject({
          input_tokens: z
            .optional(z.number().check(z.int(), z.minimum(0)))
            .check(z.describe('Input tokens of the call.')),
          output_tokens: z
            .optional(z.number().check(z.int(), z.minimum(0)))
            .check(z.describe('Output tokens of the turn.')),
          cached_input_tokens: z
            .optional(z.number().check(z.int(), z.minimum(0)))
            .check(z.describe('Input tokens read from the prompt cache.')),
        }),
      )
      .check(z.describe('What the provider reports; estimated from the text when left out.')),
    delay_ms: z
      .optional(z.number().check(z.int(), z.minimum(0), z.maximum(60_000)))
      .check(z.describe('Milliseconds the turn takes, to make latency visible in demos.')),
    error: z
      .optional(z.enum(['unavailable', 'configuration', 'context_too_long']))
      .check(
        z.describe(
          "Instead of answering, fail as a provider would: an outage (retried, then the fallback), a bad configuration, or a refusal of the prompt as longer than the model's context window.",
        ),
      ),
  })
  .check(z.describe('One assistant turn: text, tool calls, or a provider error.'));
export type ScriptTurn = z.infer<typeof ScriptTurn>;

export const ModelScript = z.strictObject({
  description: z.optional(z.string()).check(z.describe('What the script plays.')),
  turns: z
    .array(ScriptTurn)
    .check(z.minLength(1, 'expected at least one turn'), z.describe('The assistant turns, played one per model call.')),
  after_last: z
    ._default(z.enum(['error', 'repeat_last']), 'error')
    .check(z.describe('After the last turn: fail the call, or play the last turn again (for limit and stall tests).')),
});
export type ModelScript = z.infer<typeof ModelScript>;
