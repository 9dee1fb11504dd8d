import * as z from 'zod';
import { Count, Duration, Name, SecretName, Usd, versionedRef } from './primitives.ts';
import { ScheduleSpec } from './schedule.ts';
import { GuardrailPolicy } from './guardrails.ts';
import { SkillRef } from './skills.ts';
import { SandboxSpec } from './sandbox.ts';
import { MemorySpec } from './memory.ts';
import { ServerTool, VerifyChecks } from './verify-checks.ts';
import { DEFAULT_HARNESS } from './harness.ts';

/**
 * The agent definition: one YAML file per loop, in the team's GitOps folder.
 * This one schema is shared by `looprail validate`, `cdk synth` and the run itself.
 * Keys never appear here: models, servers and secrets are referenced by name.
 */

/** A tool pattern: `tool`, `server.tool`, with `*` wildcards (`github.delete_*`). */
export const ToolPattern = z
  .string({ error: 'expected a tool pattern such as merge_pr, github.merge_pr or github.*' })
  .regex(
    /^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*./-]+)?$/,
    'expected a tool pattern such as merge_pr, github.merge_pr or github.*',
  );

/** A grant of one MCP server, optionally narrowed to some of its tools. */
export const ServerGrant = z
  .union(
    [
      Name,
      z.strictObject({
        name: Name.describe('The server granted: its file is mcp-servers/<name>.yaml.'),
        allow: z
          .array(ToolPattern)
          .optional()
          .describe("Only these tools (globs over the server's tool names). Default: every declared tool."),
        deny: z.array(ToolPattern).optional().describe('Never these tools, even if allowed.'),
        defer_loading: z
          .boolean({ error: 'expected true or false' })
          .optional()
          .describe(
            "Overrides the server's defer_loading for this agent (default: deferred: the model loads the tools it needs with looprail__load_tools).",
          ),
      }),
    ],
    { error: 'expected a server name, or { name, allow?, deny?, defer_loading? }' },
  )
  .describe('An MCP server granted to the agent: its name, or { name, allow, deny, defer_loading }.');
export type ServerGrantInput = z.infer<typeof ServerGrant>;

/**
 * What the harness keeps out of the model's context. Token counts are estimates
 * (about four characters a token), the same on every host.
 */
export const ContextHarness = z
  .strictObject({
    offload_result_tokens: Count.optional().describe(
      'A tool result over this many tokens is stored with the run and replaced by a preview and a handle (default 4000).',
    ),
    offload_turn_tokens: Count.optional().describe(
      "A turn's tool results together over this many tokens: the largest are offloaded until the rest fit (default 8000).",
    ),
    preview_chars: Count.optional().describe('Characters of an offloaded result shown in its preview (default 1200).'),
    compact_at: z
      .number({ error: 'expected a fraction such as 0.7' })
      .gt(0, 'expected a fraction above 0')
      .lt(1, 'expected a fraction below 1')
      .optional()
      .describe(
        "Older turns are summarised when the context passes this fraction of the model's context_window in models.yaml (default 0.75).",
      ),
    compaction_model: Name.optional().describe(
      "The model that writes the summary (a cheaper one, by name); default: the agent's own.",
    ),
    on_compaction_failure: z
      .enum(['continue', 'stop'], { error: 'expected continue or stop' })
      .optional()
      .describe(
        'A failed compaction: go on with the context as it is, or stop the run with the reason (default continue).',
      ),
  })
  .describe(
    "What the harness keeps out of the model's context; token counts are estimates (about four characters a token).",
  );
export type ContextHarness = z.infer<typeof ContextHarness>;

export const HarnessLimits = z
  .strictObject({
    max_steps: Count.optional().describe('Model calls the maker may make in one run (default 50; a checker: 10).'),
    max_tokens_per_run: Count.optional().describe('Input + output tokens across the run, maker and checker together.'),
    max_cost_usd: Usd.optional().describe('USD across the run, maker and checker together.'),
    max_output_tokens: Count.optional().describe('Output tokens asked of the model per call (default 4096).'),
    max_duration: Duration.optional().describe(
      'Wall-clock limit from the start of the run, approvals included, e.g. 30m or 2h.',
    ),
    stall: z
      .strictObject({
        max_repeats: Count.refine((n) => n >= 2, 'expected at least 2')
          .optional()
          .describe(
            'The same tool calls with the same arguments this many turns in a row stop the run `stalled` (default 3).',
          ),
      })
      .optional()
      .describe('When a run that repeats itself is stopped.'),
    on_denied_tool: z
      .enum(['continue', 'stop'])
      .optional()
      .describe(
        'What a call to a tool the agent is not granted does: tell the model and go on, or stop the run (default continue).',
      ),
    on_tool_in_doubt: z
      .enum(['continue', 'stop'])
      .optional()
      .describe(
        'A side-effecting call whose earlier attempt may have acted (a crash between the call and its record) is never repeated: tell the model and go on, or stop the run (default continue).',
      ),
    max_tool_calls_per_turn: Count.optional().describe(
      'Tool calls one model turn may make; more are refused (default 16).',
    ),
    max_depth: Count.optional().describe(
      'How many levels of delegated sub-agent runs may sit below a root run (default 2).',
    ),
    context: ContextHarness.optional(),
  })
  .describe('Limits of one run: steps, tokens, cost, time, and what happens at each.');
export type HarnessLimits = z.infer<typeof HarnessLimits>;

/**
 * An approval waits 3 days unless its rule says otherwise, and at most 30 days. Step
 * Functions could hold the task token for a year, but the request's arguments and the
 * run's context go stale long before that.
 */
export const MAX_APPROVAL_TIMEOUT_SECONDS = 30 * 86_400;

export const ApprovalRule = z
  .union(
    [
      z.literal('pause_for_human'),
      z
        .strictObject({
          action: z
            .literal('pause_for_human')
            .default('pause_for_human')
            .describe('The call waits for a human decision.'),
          approvers: z
            .array(z.email('expected an email address'))
            .optional()
            .describe('Who may decide (email addresses); they are mailed the approval link.'),
          timeout: Duration.optional().describe(
            'How long the request waits before it expires and counts as a rejection (default 3d, at most 30d).',
          ),
          on_reject: z
            .enum(['continue', 'stop'])
            .optional()
            .describe(
              'What a rejection does: tell the model and continue, or stop the run `rejected` (default continue).',
            ),
          two_person: z
            .boolean()
            .optional()
            .describe('Two-person rule: two distinct approvers must approve (one rejection decides).'),
          remind_before: Duration.optional().describe(
            'Mail the approvers a reminder this long before the approval expires.',
          ),
          escalate_after: Duration.optional().describe(
            'This long after the request, the `escalate_to` group may decide too, and is mailed links.',
          ),
          escalate_to: z
            .array(z.email('expected an email address'))
            .min(1, 'expected at least one email address')
            .optional()
            .describe('Who is asked after escalate_after (email addresses).'),
        })
        .refine(
          (rule) => rule.two_person !== true || new Set((rule.approvers ?? []).map((a) => a.toLowerCase())).size >= 2,
          {
            error: 'two_person: true needs at least two distinct approvers',
            path: ['approvers'],
          },
        )
        .superRefine((rule, ctx) => {
          if (rule.timeout !== undefined && rule.timeout > MAX_APPROVAL_TIMEOUT_SECONDS) {
            ctx.addIssue({
              code: 'custom',
              message: 'timeout must be at most 30d: a request older than a month is stale',
              path: ['timeout'],
            });
          }
          const timeout = rule.timeout ?? DEFAULT_HARNESS.approval_timeout_seconds;
          const spelled = rule.timeout === undefined ? 'the default timeout (3d)' : 'the timeout';
          if (rule.remind_before !== undefined && rule.remind_before >= timeout) {
            ctx.addIssue({
              code: 'custom',
              message: `remind_before must be shorter than ${spelled}`,
              path: ['remind_before'],
            });
          }
          if (rule.escalate_after !== undefined && rule.escalate_after >= timeout) {
            ctx.addIssue({
              code: 'custom',
              message: `escalate_after must be shorter than ${spelled}`,
              path: ['escalate_after'],
            });
          }
          if (rule.escalate_after !== undefined && rule.escalate_to === undefined) {
            ctx.addIssue({
              code: 'custom',
              message: 'escalate_after needs escalate_to: the email addresses to escalate to',
              path: ['escalate_after'],
            });
          }
          if (rule.escalate_to !== undefined && rule.escalate_after === undefined) {
            ctx.addIssue({
              code: 'custom',
              message: 'escalate_to needs escalate_after: how long after the request to escalate',
              path: ['escalate_to'],
            });
          }
        }),
    ],
    {
      error:
        'expected pause_for_human, or { approvers?, timeout?, on_reject?, two_person?, remind_before?, escalate_after?, escalate_to? }',
    },
  )
  .describe('pause_for_human, or the rule in full: who approves, how long it waits, what a rejection does.');
export type ApprovalRuleInput = z.infer<typeof ApprovalRule>;

export const SubAgent = z
  .strictObject({
    name: Name.describe("The sub-agent's name, unique in the agent (verify.checker names one)."),
    description: z.string().optional().describe('What it is for: the maker sees this when it decides to delegate.'),
    agent: Name.optional().describe(
      'Run another agent of the org as this sub-agent (its own definition, identity and tools) instead of declaring model, instructions and servers here.',
    ),
    role: z
      .enum(['maker', 'checker'])
      .optional()
      .describe("A checker reviews the maker's result and may only hold read-only tools."),
    model: Name.optional().describe("A model of models.yaml, by name; defaults to the parent's model."),
    instructions: versionedRef('a file')
      .optional()
      .describe('Its instructions file with its version, e.g. ./instructions/reviewer.md@v1.'),
    mcp_servers: z.array(ServerGrant).default([]).describe('The MCP servers it may use (none by default).'),
    harness: HarnessLimits.optional(),
  })
  .describe('A sub-agent: a checker the maker is verified by, or a delegate the maker hands tasks to.');
export type SubAgentInput = z.infer<typeof SubAgent>;

export const VerifySpec = z
  .strictObject({
    checker: Name.describe("The sub-agent (in subagents) that checks the maker's work."),
    criteria: z
      .string()
      .min(1, 'expected the pass criteria as text')
      .optional()
      .describe('What "done" means, given to the checker with the task and the maker\'s result.'),
    max_attempts: Count.optional().describe(
      'Maker attempts, the first included; a failed check sends feedback back until these run out (default 2).',
    ),
    checks: VerifyChecks.optional().describe(
      'Deterministic checks (commands in the sandbox, read-only tool calls) run before the checker; a failing one goes back to the maker and the checker is not called.',
    ),
    release: z
      .array(ServerTool)
      .min(1, 'expected at least one tool, as server.tool')
      .optional()
      .describe(
        'Tools held until verification passes (server.tool), such as a push that proposes the work: a call before then is answered "not yet" and asks no one to approve it; once every check and the checker pass, the maker gets one more turn to call them, in which the verified work may not change (only these, read-only tools and loop memory run).',
      ),
  })
  .describe('A checker reviews the result before the run ends `verified`.');

/** When a notification is sent: the run finished (any stop reason), failed, or paused for a human. */
export const NOTIFY_EVENTS = ['finished', 'failed', 'paused'] as const;
export const NotifyEvent = z.enum(NOTIFY_EVENTS, { error: 'expected finished, failed or paused' });
export type NotifyEvent = z.infer<typeof NotifyEvent>;

/** One place a run's outcome is sent: an email address or a (Slack-compatible) webhook URL. */
export const NotifyTarget = z
  .strictObject({
    on: z
      .array(NotifyEvent)
      .min(1, 'expected at least one of finished, failed, paused')
      .default([...NOTIFY_EVENTS])
      .describe('When to send: the run finished (any stop reason), failed, or paused for a human.'),
    email: z.email('expected an email address').optional().describe('An email address (one of email or webhook).'),
    webhook: z
      .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
      .optional()
      .describe('A (Slack-compatible) webhook URL (one of email or webhook).'),
  })
  .refine((target) => (target.email === undefined) !== (target.webhook === undefined), {
    error: 'expected exactly one of email or webhook in each notify entry',
  })
  .describe("One place a run's outcome is sent: an email address or a webhook.");
export type NotifyTarget = z.infer<typeof NotifyTarget>;

export const AgentSpec = z
  .strictObject({
    name: Name.describe("The agent's name: lower-case letters, digits and hyphens, unique in the org."),
    description: z.string().optional().describe('What the loop is for, shown in the inventory.'),
    owner: z.string().min(1).optional().describe('Who answers for it (a person or a mailbox), shown in the inventory.'),
    team: Name.optional().describe('The team it belongs to: budgets and costs are kept per team too.'),
    enabled: z.boolean().default(true).describe('A paused agent starts no runs (its schedule is disabled).'),
    input_schema: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("A JSON Schema every run's input must match, whatever started it (API, webhook, event, schedule)."),
    model: Name.describe('The model it runs on: a name declared in models.yaml.'),
    fallback_model: Name.optional().describe("Tried when the model's provider is unavailable (a name in models.yaml)."),
    instructions: versionedRef('a file').describe(
      'The instructions file with its version, e.g. ./instructions/triage.md@v1; `looprail lock` records its hash.',
    ),
    skills: z
      .array(SkillRef)
      .default([])
      .describe(
        'Registry skills, `name@version` or `name@range` (e.g. ci-runbook@^2.1.0), resolved by `looprail lock`.',
      ),
    mcp_servers: z.array(ServerGrant).default([]).describe('The MCP servers it may use (none by default).'),
    subagents: z.array(SubAgent).default([]).describe('Checkers and delegates, each with its own model and tools.'),
    harness: HarnessLimits.default({}),
    approvals: z
      .record(ToolPattern, ApprovalRule)
      .default({})
      .describe('Tool calls that wait for a human: a tool pattern (github.merge_pr, github.delete_*) and its rule.'),
    approve_writes_after_untrusted_input: z
      .boolean()
      .default(false)
      .describe(
        "Once the run's context holds untrusted content (any tool result, or a webhook or event as input), every call to a tool that may write waits for a human.",
      ),
    verify: VerifySpec.optional(),
    guardrails: GuardrailPolicy.optional().describe(
      "Added to the org's guardrails.yaml: an agent may add rules and tighten actions, never loosen them.",
    ),
    notify: z
      .array(NotifyTarget)
      .default([])
      .describe(
        "Where the run's outcome (stop reason, summary, cost, trace link) is sent when it finishes, fails or pauses.",
      ),
    sandbox: SandboxSpec.optional().describe(
      "A workspace of the run's own for running code, granted as the `sandbox` server.",
    ),
    memory: MemorySpec.optional().describe("The loop's work ledger and handoff note across runs."),
  })
  .describe('The loop: its model, instructions, tools, limits and approvals.');
export type AgentSpec = z.infer<typeof AgentSpec>;

export const WebhookTrigger = z
  .strictObject({
    secret: SecretName.describe('The secret (by name, in secrets.yaml) holding the HMAC key.'),
    scheme: z
      .enum(['github', 'hmac-sha256'])
      .default('github')
      .describe(
        'How deliveries are signed: github (X-Hub-Signature-256, as GitHub signs), or hmac-sha256 (X-Looprail-Timestamp and X-Looprail-Signature: v1=<hex> of `<timestamp>.<body>`).',
      ),
    filter: z
      .record(z.string(), z.union([z.string(), z.array(z.string())]))
      .optional()
      .describe('Only deliveries matching every field start a run (event type, branch, label…).'),
  })
  .describe('A signed HTTP delivery (a GitHub webhook, for instance) starts a run with the payload as input.');

export const TriggerSpec = z
  .strictObject({
    schedule: ScheduleSpec.optional().describe(
      'A cron expression (0 6 * * 1-5), cron(...) or rate(...) as EventBridge Scheduler takes them, or { cron | rate, timezone }.',
    ),
    event: z
      .strictObject({
        pattern: z
          .record(z.string(), z.unknown())
          .describe('The EventBridge event pattern, e.g. { source: [aws.codepipeline] }.'),
      })
      .optional()
      .describe('A matching EventBridge event starts a run with the event as input.'),
    webhook: WebhookTrigger.optional(),
  })
  .describe('What starts runs besides the API: a schedule, an event, a webhook.');
export type TriggerSpec = z.infer<typeof TriggerSpec>;

/** One agent definition file. `trigger` sits beside `agent`, as in the product brief. */
export const AgentFile = z.strictObject(
  {
    agent: AgentSpec,
    trigger: TriggerSpec.optional(),
  },
  { error: 'expected an agent definition: a mapping with `agent:` (and optionally `trigger:`)' },
);
export type AgentFile = z.infer<typeof AgentFile>;

export { DEFAULT_HARNESS, SecretName };
