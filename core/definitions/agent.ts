import * as z from 'zod';
import { Count, Duration, Name, SecretName, Usd, versionedRef } from './primitives.ts';
import { ScheduleSpec } from './schedule.ts';
import { GuardrailPolicy } from './guardrails.ts';
import { SkillRef } from './skills.ts';
import { SandboxSpec } from './sandbox.ts';
import { VerifyChecks } from './verify-checks.ts';

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
export const ServerGrant = z.union(
  [
    Name,
    z.strictObject({
      name: Name,
      /** Only these tools (globs over the server's tool names). Default: every declared tool. */
      allow: z.array(ToolPattern).optional(),
      /** Never these tools, even if allowed. */
      deny: z.array(ToolPattern).optional(),
      /** Overrides the server's defer_loading for this agent (default: deferred). */
      defer_loading: z.boolean({ error: 'expected true or false' }).optional(),
    }),
  ],
  { error: 'expected a server name, or { name, allow?, deny?, defer_loading? }' },
);
export type ServerGrantInput = z.infer<typeof ServerGrant>;

/**
 * What the harness keeps out of the model's context. Token counts are estimates
 * (about four characters a token), the same on every host.
 */
export const ContextHarness = z.strictObject({
  /** A tool result over this many tokens is stored with the run and replaced by a preview and a handle. */
  offload_result_tokens: Count.optional(),
  /** A turn's tool results together over this many tokens: the largest are offloaded until the rest fit. */
  offload_turn_tokens: Count.optional(),
  /** Characters of an offloaded result shown in its preview. */
  preview_chars: Count.optional(),
  /** Older turns are summarised when the context passes this fraction of the model's context_window (models.yaml). */
  compact_at: z
    .number({ error: 'expected a fraction such as 0.7' })
    .gt(0, 'expected a fraction above 0')
    .lt(1, 'expected a fraction below 1')
    .optional(),
  /** The model that writes the summary (a cheaper one, by name); default: the agent's own. */
  compaction_model: Name.optional(),
  /** A failed compaction: go on with the context as it is, or stop the run with the reason. */
  on_compaction_failure: z.enum(['continue', 'stop'], { error: 'expected continue or stop' }).optional(),
});
export type ContextHarness = z.infer<typeof ContextHarness>;

export const HarnessLimits = z.strictObject({
  /** Model calls the maker may make in one run. */
  max_steps: Count.optional(),
  /** Input + output tokens across the run (maker and checker). */
  max_tokens_per_run: Count.optional(),
  /** USD across the run (maker and checker). */
  max_cost_usd: Usd.optional(),
  /** Output tokens asked of the model per call. */
  max_output_tokens: Count.optional(),
  /** Wall-clock limit from the start of the run, approvals included. */
  max_duration: Duration.optional(),
  stall: z
    .strictObject({
      /** The same tool calls with the same arguments this many turns in a row stop the run `stalled`. */
      max_repeats: Count.refine((n) => n >= 2, 'expected at least 2').optional(),
    })
    .optional(),
  /** What a call to a tool the agent is not granted does: tell the model and go on, or stop the run. */
  on_denied_tool: z.enum(['continue', 'stop']).optional(),
  /**
   * A side-effecting call whose earlier attempt may have acted (a crash between the call
   * and its record) is never repeated: tell the model and go on, or stop the run.
   */
  on_tool_in_doubt: z.enum(['continue', 'stop']).optional(),
  /** Tool calls one model turn may make; more are refused. */
  max_tool_calls_per_turn: Count.optional(),
  /** How many levels of delegated sub-agent runs may sit below a root run (default 2). */
  max_depth: Count.optional(),
  /** Offloading of large tool results (see ContextHarness). */
  context: ContextHarness.optional(),
});
export type HarnessLimits = z.infer<typeof HarnessLimits>;

/**
 * An approval waits 3 days unless its rule says otherwise, and at most 30 days. Step
 * Functions could hold the task token for a year, but the request's arguments and the
 * run's context go stale long before that.
 */
export const MAX_APPROVAL_TIMEOUT_SECONDS = 30 * 86_400;

export const ApprovalRule = z.union(
  [
    z.literal('pause_for_human'),
    z
      .strictObject({
        action: z.literal('pause_for_human').default('pause_for_human'),
        approvers: z.array(z.email('expected an email address')).optional(),
        timeout: Duration.optional(),
        /** What a rejection does: tell the model and continue, or stop the run `rejected`. */
        on_reject: z.enum(['continue', 'stop']).optional(),
        /** Two-person rule: two distinct approvers must approve (one rejection decides). */
        two_person: z.boolean().optional(),
        /** Mail the approvers a reminder this long before the approval expires. */
        remind_before: Duration.optional(),
        /** This long after the request, the `escalate_to` group may decide too, and is mailed links. */
        escalate_after: Duration.optional(),
        escalate_to: z
          .array(z.email('expected an email address'))
          .min(1, 'expected at least one email address')
          .optional(),
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
);
export type ApprovalRuleInput = z.infer<typeof ApprovalRule>;

export const SubAgent = z.strictObject({
  name: Name,
  /** What it is for: the maker sees this when it decides to delegate. */
  description: z.string().optional(),
  /**
   * Run another agent of the org as this sub-agent (its own definition, identity and
   * tools) instead of declaring model, instructions and servers here.
   */
  agent: Name.optional(),
  /** A checker reviews the maker's result and may only hold read-only tools. */
  role: z.enum(['maker', 'checker']).optional(),
  /** Defaults to the parent's model. */
  model: Name.optional(),
  instructions: versionedRef('a file').optional(),
  mcp_servers: z.array(ServerGrant).default([]),
  harness: HarnessLimits.optional(),
});
export type SubAgentInput = z.infer<typeof SubAgent>;

export const VerifySpec = z.strictObject({
  /** The sub-agent that checks the maker's work. */
  checker: Name,
  /** What "done" means, given to the checker with the task and the maker's result. */
  criteria: z.string().min(1, 'expected the pass criteria as text').optional(),
  /** Maker attempts, the first included; a failed check sends feedback back until these run out. */
  max_attempts: Count.optional(),
  /** Deterministic checks run before the checker (core/definitions/verify-checks.ts). */
  checks: VerifyChecks.optional(),
});

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
      .default([...NOTIFY_EVENTS]),
    email: z.email('expected an email address').optional(),
    webhook: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
  })
  .refine((target) => (target.email === undefined) !== (target.webhook === undefined), {
    error: 'expected exactly one of email or webhook in each notify entry',
  });
export type NotifyTarget = z.infer<typeof NotifyTarget>;

export const AgentSpec = z.strictObject({
  name: Name,
  description: z.string().optional(),
  owner: z.string().min(1).optional(),
  team: Name.optional(),
  /** A paused agent starts no runs (its schedule is disabled). */
  enabled: z.boolean().default(true),
  /** A JSON schema every run's input must match, whatever started it (API, webhook, event, schedule). */
  input_schema: z.record(z.string(), z.unknown()).optional(),
  model: Name,
  /** Tried when the model's provider is unavailable. */
  fallback_model: Name.optional(),
  instructions: versionedRef('a file'),
  /** Registry skills, `name@version` or `name@range`, resolved by `looprail lock`. */
  skills: z.array(SkillRef).default([]),
  mcp_servers: z.array(ServerGrant).default([]),
  subagents: z.array(SubAgent).default([]),
  harness: HarnessLimits.default({}),
  approvals: z.record(ToolPattern, ApprovalRule).default({}),
  /**
   * Once the run's context holds untrusted content (any tool result, or a webhook or event
   * as input), every call to a tool that may write waits for a human.
   */
  approve_writes_after_untrusted_input: z.boolean().default(false),
  verify: VerifySpec.optional(),
  /** Added to the org's guardrails.yaml: an agent may add rules and tighten actions, never loosen them. */
  guardrails: GuardrailPolicy.optional(),
  /** Where the run's outcome (stop reason, summary, cost, trace link) is sent when it finishes, fails or pauses. */
  notify: z.array(NotifyTarget).default([]),
  /** A workspace of the run's own for running code (core/definitions/sandbox.ts); granted as the `sandbox` server. */
  sandbox: SandboxSpec.optional(),
});
export type AgentSpec = z.infer<typeof AgentSpec>;

export const WebhookTrigger = z.strictObject({
  /** Secret (by name) holding the HMAC key. */
  secret: SecretName,
  scheme: z.enum(['github', 'hmac-sha256']).default('github'),
  /** Only deliveries matching every field start a run (event type, branch, label…). */
  filter: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
});

export const TriggerSpec = z.strictObject({
  schedule: ScheduleSpec.optional(),
  /** An EventBridge event pattern; a matching event starts a run with the event as input. */
  event: z.strictObject({ pattern: z.record(z.string(), z.unknown()) }).optional(),
  webhook: WebhookTrigger.optional(),
});
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

export const DEFAULT_HARNESS = {
  max_steps: 50,
  max_output_tokens: 4096,
  stall_max_repeats: 3,
  on_denied_tool: 'continue',
  on_tool_in_doubt: 'continue',
  max_tool_calls_per_turn: 16,
  max_depth: 2,
  max_verify_attempts: 2,
  checker_max_steps: 10,
  approval_timeout_seconds: 3 * 86_400,
  offload_result_tokens: 4_000,
  offload_turn_tokens: 8_000,
  preview_chars: 1_200,
  compact_at: 0.75,
  on_compaction_failure: 'continue',
} as const;

export { SecretName };
