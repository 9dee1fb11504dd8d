import { Role, StopReason } from './run.ts';
import { GuardrailStage } from './guardrails.ts';
import * as z from './zod.ts';

/** What a guardrail did to this step's traffic; never the text it matched. */
export const GuardrailVerdictRecord = z.object({
  rule: z.string(),
  stage: GuardrailStage,
  action: z.enum(['flag', 'redact', 'truncate', 'block']),
  detail: z.string(),
  count: z.number().check(z.int(), z.minimum(0)),
});

/**
 * One trace event per thing that happened: a model call, a tool call, a policy
 * decision, a verification, the run's start and end. Costs are integers in
 * millionths of a USD so that run totals are exact sums of their steps.
 */
export const TraceKind = z.enum([
  'run_started',
  'model_call',
  'tool_call',
  'tool_denied',
  'approval_requested',
  /** A human's answer to an approval request (the wait is its latency). */
  'approval_decided',
  'verification',
  'skill_loaded',
  'context_compacted',
  /** A delegated sub-agent run: its usage is rolled into the parent's, under `subagentUsage`. */
  'delegation',
  'stop_decided',
  'run_finished',
  'run_failed',
]);
export type TraceKind = z.infer<typeof TraceKind>;

export const TraceEvent = z.object({
  runId: z.string(),
  seq: z.number().check(z.int(), z.minimum(0)),
  kind: TraceKind,
  role: Role,
  /** What the event is about: the model name, `server.tool`, the checker's name… */
  name: z.string(),
  status: z.enum(['ok', 'error', 'denied', 'pass', 'fail']),
  startedAt: z.string(),
  endedAt: z.string(),
  latencyMs: z.number().check(z.minimum(0)),
  inputTokens: z._default(z.number().check(z.int(), z.minimum(0)), 0),
  outputTokens: z._default(z.number().check(z.int(), z.minimum(0)), 0),
  cachedInputTokens: z._default(z.number().check(z.int(), z.minimum(0)), 0),
  costMicros: z._default(z.number().check(z.int(), z.minimum(0)), 0),
  provider: z.optional(z.string()),
  model: z.optional(z.string()),
  /** True when the provider is the scripted one: never mistaken for a real model's output. */
  scripted: z.optional(z.boolean()),
  /** The agent's fallback model answered because its own model was unavailable. */
  fallback: z.optional(z.boolean()),
  server: z.optional(z.string()),
  tool: z.optional(z.string()),
  callId: z.optional(z.string()),
  attempt: z.optional(z.number().check(z.int())),
  stopReason: z.optional(StopReason),
  childRunId: z.optional(z.string()),
  /** An offloaded tool result: the handle under which its full (screened) text is stored with the run. */
  resultHandle: z.optional(z.string()),
  guardrails: z.optional(z.array(GuardrailVerdictRecord)),
  /** A sandbox call: the command (exec), exit code, duration and how much it printed; the output itself is cut into `detail`. */
  sandbox: z.optional(
    z.object({
      command: z.optional(z.string()),
      exitCode: z.optional(z.number().check(z.int())),
      timedOut: z.optional(z.boolean()),
      outputBytes: z.optional(z.number().check(z.int(), z.minimum(0))),
      durationMs: z.number().check(z.minimum(0)),
    }),
  ),
  /** A short, redacted explanation: an error message, a verdict's feedback, why a call was refused. */
  detail: z.optional(z.string()),
});
export type TraceEvent = z.infer<typeof TraceEvent>;
export type NewTraceEvent = Omit<z.input<typeof TraceEvent>, 'runId' | 'seq'>;
