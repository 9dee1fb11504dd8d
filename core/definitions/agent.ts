import { z } from 'zod';
import { Count, Duration, Name, SecretName, Usd, versionedRef } from './primitives.ts';
import { ScheduleSpec } from './schedule.ts';
import { GuardrailPolicy } from './guardrails.ts';

/**
 * The agent definition: one YAML file per loop, in the team's GitOps folder.
 * This one schema is shared by `looprail validate`, `cdk synth` and the run itself.
 * Keys never appear here: models, servers and secrets are referenced by name.
 */

/** A tool pattern: `tool`, `server.tool`, with `*` wildcards (`github.delete_*`). */
export const ToolPattern = z
  .string({ error: 'expected a tool pattern such as merge_pr, github.merge_pr or github.*' })
  .regex(/^[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*./-]+)?$/, 'expected a tool pattern such as merge_pr, github.merge_pr or github.*');

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
    }),
  ],
  { error: 'expected a server name, or { name, allow?, deny? }' },
);
export type ServerGrantInput = z.infer<typeof ServerGrant>;

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
});
export type HarnessLimits = z.infer<typeof HarnessLimits>;

export const ApprovalRule = z.union(
  [
    z.literal('pause_for_human'),
    z.strictObject({
      action: z.literal('pause_for_human').default('pause_for_human'),
      approvers: z.array(z.email('expected an email address')).optional(),
      timeout: Duration.optional(),
      /** What a rejection does: tell the model and continue, or stop the run `rejected`. */
      on_reject: z.enum(['continue', 'stop']).optional(),
    }),
  ],
  { error: 'expected pause_for_human, or { approvers?, timeout?, on_reject? }' },
);
export type ApprovalRuleInput = z.infer<typeof ApprovalRule>;

export const SubAgent = z.strictObject({
  name: Name,
  description: z.string().optional(),
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
});

/** When a notification is sent: the run finished (any stop reason), failed, or paused for a human. */
export const NOTIFY_EVENTS = ['finished', 'failed', 'paused'] as const;
export const NotifyEvent = z.enum(NOTIFY_EVENTS, { error: 'expected finished, failed or paused' });
export type NotifyEvent = z.infer<typeof NotifyEvent>;

/** One place a run's outcome is sent: an email address or a (Slack-compatible) webhook URL. */
export const NotifyTarget = z
  .strictObject({
    on: z.array(NotifyEvent).min(1, 'expected at least one of finished, failed, paused').default([...NOTIFY_EVENTS]),
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
  skills: z.array(versionedRef('a skill name')).default([]),
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
  event: z
    .strictObject({ pattern: z.record(z.string(), z.unknown()) })
    .optional(),
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
  max_verify_attempts: 2,
  checker_max_steps: 10,
  approval_timeout_seconds: 3 * 86_400,
} as const;

export { SecretName };
