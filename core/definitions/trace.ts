import * as z from 'zod';
import { Role, StopReason } from './run.ts';
import { GuardrailStage } from './guardrails.ts';

/** What a guardrail did to this step's traffic; never the text it matched. */
export const GuardrailVerdictRecord = z.object({
  rule: z.string(),
  stage: GuardrailStage,
  action: z.enum(['flag', 'redact', 'truncate', 'block']),
  detail: z.string(),
  count: z.number().int().min(0),
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
  seq: z.number().int().min(0),
  kind: TraceKind,
  role: Role,
  /** What the event is about: the model name, `server.tool`, the checker's name… */
  name: z.string(),
  status: z.enum(['ok', 'error', 'denied', 'pass', 'fail']),
  startedAt: z.string(),
  endedAt: z.string(),
  latencyMs: z.number().min(0),
  inputTokens: z.number().int().min(0).default(0),
  outputTokens: z.number().int().min(0).default(0),
  cachedInputTokens: z.number().int().min(0).default(0),
  costMicros: z.number().int().min(0).default(0),
  provider: z.string().optional(),
  model: z.string().optional(),
  /** True when the provider is the scripted one: never mistaken for a real model's output. */
  scripted: z.boolean().optional(),
  /** The agent's fallback model answered because its own model was unavailable. */
  fallback: z.boolean().optional(),
  server: z.string().optional(),
  tool: z.string().optional(),
  callId: z.string().optional(),
  attempt: z.number().int().optional(),
  stopReason: StopReason.optional(),
  childRunId: z.string().optional(),
  /** An offloaded tool result: the handle under which its full (screened) text is stored with the run. */
  resultHandle: z.string().optional(),
  guardrails: z.array(GuardrailVerdictRecord).optional(),
  /** A sandbox call: the command (exec), exit code, duration and how much it printed; the output itself is cut into `detail`. */
  sandbox: z
    .object({
      command: z.string().optional(),
      exitCode: z.number().int().optional(),
      timedOut: z.boolean().optional(),
      outputBytes: z.number().int().min(0).optional(),
      durationMs: z.number().min(0),
    })
    .optional(),
  /** A short, redacted explanation: an error message, a verdict's feedback, why a call was refused. */
  detail: z.string().optional(),
});
export type TraceEvent = z.infer<typeof TraceEvent>;
export type NewTraceEvent = Omit<z.input<typeof TraceEvent>, 'runId' | 'seq'>;
