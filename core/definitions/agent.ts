import * as z from './zod.ts';
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
  .check(
    z.regex(
      /^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*./-]+)?$/,
      'expected a tool pattern such as merge_pr, github.merge_pr or github.*',
    ),
  );

/** A grant of one MCP server, optionally narrowed to some of its tools. */
export const ServerGrant = z
  .union(
    [
      Name,
      z.strictObject({
        name: Name.check(z.describe('The server granted: its file is mcp-servers/<name>.yaml.')),
        allow: z
          .optional(z.array(ToolPattern))
          .check(z.describe("Only these tools (globs over the server's tool names). Default: every declared tool.")),
        deny: z.optional(z.array(ToolPattern)).check(z.describe('Never these tools, even if allowed.')),
        defer_loading: z
          .optional(z.boolean({ error: 'expected true or false' }))
          .check(
            z.describe(
              "Overrides the server's defer_loading for this agent (default: deferred: the model loads the tools it needs with looprail__load_tools).",
            ),
          ),
      }),
    ],
    { error: 'expected a server name, or { name, allow?, deny?, defer_loading? }' },
  )
  .check(z.describe('An MCP server granted to the agent: its name, or { name, allow, deny, defer_loading }.'));
export type ServerGrantInput = z.infer<typeof ServerGrant>;

/**
 * What the harness keeps out of the model's context. Token counts are estimates
 * (about four characters a token), the same on every host.
 */
export const ContextHarness = z
  .strictObject({
    offload_result_tokens: z
      .optional(Count)
      .check(
        z.describe(
          'A tool result over this many tokens is stored with the run and replaced by a preview and a handle (default 4000).',
        ),
      ),
    offload_turn_tokens: z
      .optional(Count)
      .check(
        z.describe(
          "A turn's tool results together over this many tokens: the largest are offloaded until the rest fit (default 8000).",
        ),
      ),
    preview_chars: z
      .optional(Count)
      .check(z.describe('Characters of an offloaded result shown in its preview (default 1200).')),
    compact_at: z
      .optional(
        z
          .number({ error: 'expected a fraction such as 0.7' })
          .check(z.gt(0, 'expected a fraction above 0'), z.lt(1, 'expected a fraction below 1')),
      )
      .check(
        z.describe(
          "Older turns are summarised when the context passes this fraction of the model's context_window in models.yaml (default 0.75).",
        ),
      ),
    compaction_model: z
      .optional(Name)
      .check(z.describe("The model that writes the summary (a cheaper one, by name); default: the agent's own.")),
    on_compaction_failure: z
      .optional(z.enum(['continue', 'stop'], { error: 'expected continue or stop' }))
      .check(
        z.describe(
          'A failed compaction: go on with the context as it is, or stop the run with the reason (default continue).',
        ),
      ),
  })
  .check(
    z.describe(
      "What the harness keeps out of the model's context; token counts are estimates (about four characters a token).",
    ),
  );
export type ContextHarness = z.infer<typeof ContextHarness>;

export const HarnessLimits = z
  .strictObject({
    max_steps: z
      .optional(Count)
      .check(z.describe('Model calls the maker may make in one run (default 50; a checker: 10).')),
    max_tokens_per_run: z
      .optional(Count)
      .check(z.describe('Input + output tokens across the run, maker and checker together.')),
    max_cost_usd: z.optional(Usd).check(z.describe('USD across the run, maker and checker together.')),
    max_output_tokens: z.optional(Count).check(z.describe('Output tokens asked of the model per call (default 4096).')),
    max_duration: z
      .optional(Duration)
      .check(z.describe('Wall-clock limit from the start of the run, approvals included, e.g. 30m or 2h.')),
    stall: z
      .optional(
        z.strictObject({
          max_repeats: z
            .optional(Count.check(z.refine((n) => n >= 2, 'expected at least 2')))
            .check(
              z.describe(
                'The same tool calls with the same arguments this many turns in a row stop the run `stalled` (default 3).',
              ),
            ),
        }),
      )
      .check(z.describe('When a run that repeats itself is stopped.')),
    on_denied_tool: z
      .optional(z.enum(['continue', 'stop']))
      .check(
        z.describe(
          'What a call to a tool the agent is not granted does: tell the model and go on, or stop the run (default continue).',
        ),
      ),
    on_tool_in_doubt: z
      .optional(z.enum(['continue', 'stop']))
      .check(
        z.describe(
          'A side-effecting call whose earlier attempt may have acted (a crash between the call and its record) is never repeated: tell the model and go on, or stop the run (default continue).',
        ),
      ),
    max_tool_calls_per_turn: z
      .optional(Count)
      .check(z.describe('Tool calls one model turn may make; more are refused (default 16).')),
    max_depth: z
      .optional(Count)
      .check(z.describe('How many levels of delegated sub-agent runs may sit below a root run (default 2).')),
    context: z.optional(ContextHarness),
  })
  .check(z.describe('Limits of one run: steps, tokens, cost, time, and what happens at each.'));
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
            ._default(z.literal('pause_for_human'), 'pause_for_human')
            .check(z.describe('The call waits for a human decision.')),
          approvers: z
            .optional(z.array(z.email('expected an email address')))
            .check(z.describe('Who may decide (email addresses); they are mailed the approval link.')),
          timeout: z
            .optional(Duration)
            .check(
              z.describe(
                'How long the request waits before it expires and counts as a rejection (default 3d, at most 30d).',
              ),
            ),
          on_reject: z
            .optional(z.enum(['continue', 'stop']))
            .check(
              z.describe(
                'What a rejection does: tell the model and continue, or stop the run `rejected` (default continue).',
              ),
            ),
          two_person: z
            .optional(z.boolean())
            .check(z.describe('Two-person rule: two distinct approvers must approve (one rejection decides).')),
          remind_before: z
            .optional(Duration)
            .check(z.describe('Mail the approvers a reminder this long before the approval expires.')),
          escalate_after: z
            .optional(Duration)
            .check(
              z.describe('This long after the request, the `escalate_to` group may decide too, and is mailed links.'),
            ),
          escalate_to: z
            .optional(
              z
                .array(z.email('expected an email address'))
                .check(z.minLength(1, 'expected at least one email address')),
            )
            .check(z.describe('Who is asked after escalate_after (email addresses).')),
        })
        .check(
          z.refine(
            (rule) => rule.two_person !== true || new Set((rule.approvers ?? []).map((a) => a.toLowerCase())).size >= 2,
            {
              error: 'two_person: true needs at least two distinct approvers',
              path: ['approvers'],
            },
          ),
          z.superRefine((rule, ctx) => {
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
        ),
    ],
    {
      error:
        'expected pause_for_human, or { approvers?, timeout?, on_reject?, two_person?, remind_before?, escalate_after?, escalate_to? }',
    },
  )
  .check(z.describe('pause_for_human, or the rule in full: who approves, how long it waits, what a rejection does.'));
export type ApprovalRuleInput = z.infer<typeof ApprovalRule>;

export const SubAgent = z
  .strictObject({
    name: Name.check(z.describe("The sub-agent's name, unique in the agent (verify.checker names one).")),
    description: z
      .optional(z.string())
      .check(z.describe('What it is for: the maker sees this when it decides to delegate.')),
    agent: z
      .optional(Name)
      .check(
        z.describe(
          'Run another agent of the org as this sub-agent (its own definition, identity and tools) instead of declaring model, instructions and servers here.',
        ),
      ),
    role: z
      .optional(z.enum(['maker', 'checker']))
      .check(z.describe("A checker reviews the maker's result and may only hold read-only tools.")),
    model: z.optional(Name).check(z.describe("A model of models.yaml, by name; defaults to the parent's model.")),
    instructions: z
      .optional(versionedRef('a file'))
      .check(z.describe('Its instructions file with its version, e.g. ./instructions/reviewer.md@v1.')),
    mcp_servers: z
      ._default(z.array(ServerGrant), [])
      .check(z.describe('The MCP servers it may use (none by default).')),
    harness: z.optional(HarnessLimits),
  })
  .check(z.describe('A sub-agent: a checker the maker is verified by, or a delegate the maker hands tasks to.'));
export type SubAgentInput = z.infer<typeof SubAgent>;

export const VerifySpec = z
  .strictObject({
    checker: Name.check(z.describe("The sub-agent (in subagents) that checks the maker's work.")),
    criteria: z
      .optional(z.string().check(z.minLength(1, 'expected the pass criteria as text')))
      .check(z.describe('What "done" means, given to the checker with the task and the maker\'s result.')),
    max_attempts: z
      .optional(Count)
      .check(
        z.describe(
          'Maker attempts, the first included; a failed check sends feedback back until these run out (default 2).',
        ),
      ),
    checks: z
      .optional(VerifyChecks)
      .check(
        z.describe(
          'Deterministic checks (commands in the sandbox, read-only tool calls) run before the checker; a failing one goes back to the maker and the checker is not called.',
        ),
      ),
    release: z
      .optional(z.array(ServerTool).check(z.minLength(1, 'expected at least one tool, as server.tool')))
      .check(
        z.describe(
          'Tools held until verification passes (server.tool), such as a push that proposes the work: a call before then is answered "not yet" and asks no one to approve it; once every check and the checker pass, the maker gets one more turn to call them, in which the verified work may not change (only these, read-only tools and loop memory run).',
        ),
      ),
  })
  .check(z.describe('A checker reviews the result before the run ends `verified`.'));

/** When a notification is sent: the run finished (any stop reason), failed, or paused for a human. */
export const NOTIFY_EVENTS = ['finished', 'failed', 'paused'] as const;
export const NotifyEvent = z.enum(NOTIFY_EVENTS, { error: 'expected finished, failed or paused' });
export type NotifyEvent = z.infer<typeof NotifyEvent>;

/** One place a run's outcome is sent: an email address or a (Slack-compatible) webhook URL. */
export const NotifyTarget = z
  .strictObject({
    on: z
      ._default(z.array(NotifyEvent).check(z.minLength(1, 'expected at least one of finished, failed, paused')), [
        ...NOTIFY_EVENTS,
      ])
      .check(z.describe('When to send: the run finished (any stop reason), failed, or paused for a human.')),
    email: z
      .optional(z.email('expected an email address'))
      .check(z.describe('An email address (one of email or webhook).')),
    webhook: z
      .optional(z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }))
      .check(z.describe('A (Slack-compatible) webhook URL (one of email or webhook).')),
  })
  .check(
    z.refine((target) => (target.email === undefined) !== (target.webhook === undefined), {
      error: 'expected exactly one of email or webhook in each notify entry',
    }),
    z.describe("One place a run's outcome is sent: an email address or a webhook."),
  );
export type NotifyTarget = z.infer<typeof NotifyTarget>;

export const AgentSpec = z
  .strictObject({
    name: Name.check(z.describe("The agent's name: lower-case letters, digits and hyphens, unique in the org.")),
    description: z.optional(z.string()).check(z.describe('What the loop is for, shown in the inventory.')),
    owner: z
      .optional(z.string().check(z.minLength(1)))
      .check(z.describe('Who answers for it (a person or a mailbox), shown in the inventory.')),
    team: z.optional(Name).check(z.describe('The team it belongs to: budgets and costs are kept per team too.')),
    enabled: z
      ._default(z.boolean(), true)
      .check(z.describe('A paused agent starts no runs (its schedule is disabled).')),
    input_schema: z
      .optional(z.record(z.string(), z.unknown()))
      .check(
        z.describe("A JSON Schema every run's input must match, whatever started it (API, webhook, event, schedule)."),
      ),
    model: Name.check(z.describe('The model it runs on: a name declared in models.yaml.')),
    fallback_model: z
      .optional(Name)
      .check(z.describe("Tried when the model's provider is unavailable (a name in models.yaml).")),
    instructions: versionedRef('a file').check(
      z.describe(
        'The instructions file with its version, e.g. ./instructions/triage.md@v1; `looprail lock` records its hash.',
      ),
    ),
    skills: z
      ._default(z.array(SkillRef), [])
      .check(
        z.describe(
          'Registry skills, `name@version` or `name@range` (e.g. ci-runbook@^2.1.0), resolved by `looprail lock`.',
        ),
      ),
    mcp_servers: z
      ._default(z.array(ServerGrant), [])
      .check(z.describe('The MCP servers it may use (none by default).')),
    subagents: z
      ._default(z.array(SubAgent), [])
      .check(z.describe('Checkers and delegates, each with its own model and tools.')),
    harness: z._default(HarnessLimits, {}),
    approvals: z
      ._default(z.record(ToolPattern, ApprovalRule), {})
      .check(
        z.describe('Tool calls that wait for a human: a tool pattern (github.merge_pr, github.delete_*) and its rule.'),
      ),
    approve_writes_after_untrusted_input: z
      ._default(z.boolean(), false)
      .check(
        z.describe(
          "Once the run's context holds untrusted content (any tool result, or a webhook or event as input), every call to a tool that may write waits for a human.",
        ),
      ),
    verify: z.optional(VerifySpec),
    guardrails: z
      .optional(GuardrailPolicy)
      .check(
        z.describe(
          "Added to the org's guardrails.yaml: an agent may add rules and tighten actions, never loosen them.",
        ),
      ),
    notify: z
      ._default(z.array(NotifyTarget), [])
      .check(
        z.describe(
          "Where the run's outcome (stop reason, summary, cost, trace link) is sent when it finishes, fails or pauses.",
        ),
      ),
    sandbox: z
      .optional(SandboxSpec)
      .check(z.describe("A workspace of the run's own for running code, granted as the `sandbox` server.")),
    memory: z.optional(MemorySpec).check(z.describe("The loop's work ledger and handoff note across runs.")),
  })
  .check(z.describe('The loop: its model, instructions, tools, limits and approvals.'));
export type AgentSpec = z.infer<typeof AgentSpec>;

export const WebhookTrigger = z
  .strictObject({
    secret: SecretName.check(z.describe('The secret (by name, in secrets.yaml) holding the HMAC key.')),
    scheme: z
      ._default(z.enum(['github', 'hmac-sha256']), 'github')
      .check(
        z.describe(
          'How deliveries are signed: github (X-Hub-Signature-256, as GitHub signs), or hmac-sha256 (X-Looprail-Timestamp and X-Looprail-Signature: v1=<hex> of `<timestamp>.<body>`).',
        ),
      ),
    filter: z
      .optional(z.record(z.string(), z.union([z.string(), z.array(z.string())])))
      .check(z.describe('Only deliveries matching every field start a run (event type, branch, label…).')),
  })
  .check(z.describe('A signed HTTP delivery (a GitHub webhook, for instance) starts a run with the payload as input.'));

export const TriggerSpec = z
  .strictObject({
    schedule: z
      .optional(ScheduleSpec)
      .check(
        z.describe(
          'A cron expression (0 6 * * 1-5), cron(...) or rate(...) as EventBridge Scheduler takes them, or { cron | rate, timezone }.',
        ),
      ),
    event: z
      .optional(
        z.strictObject({
          pattern: z
            .record(z.string(), z.unknown())
            .check(z.describe('The EventBridge event pattern, e.g. { source: [aws.codepipeline] }.')),
        }),
      )
      .check(z.describe('A matching EventBridge event starts a run with the event as input.')),
    webhook: z.optional(WebhookTrigger),
  })
  .check(z.describe('What starts runs besides the API: a schedule, an event, a webhook.'));
export type TriggerSpec = z.infer<typeof TriggerSpec>;

/** One agent definition file. `trigger` sits beside `agent`, as in the product brief. */
export const AgentFile = z.strictObject(
  {
    agent: AgentSpec,
    trigger: z.optional(TriggerSpec),
  },
  { error: 'expected an agent definition: a mapping with `agent:` (and optionally `trigger:`)' },
);
export type AgentFile = z.infer<typeof AgentFile>;

export { DEFAULT_HARNESS, SecretName };
