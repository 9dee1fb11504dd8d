import type { RunContext } from '../../core/definitions/context.ts';
import type { Message } from '../../core/definitions/messages.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import type { ApprovalRecord } from '../../core/ports/store/approvals.ts';
import type { StepCommit } from '../../core/ports/store/runs.ts';
import { newRunMeta } from '../../core/run/request-run.ts';

/** Records for store tests: runs, the commits steps make, approvals (the contract's and the adapter's own tests). */

let nextRun = 0;

/** A run id unique within the test process. */
export function newRunId(): string {
  nextRun += 1;
  return `run-${String(nextRun).padStart(4, '0')}`;
}

export function runMeta(overrides: Partial<RunMeta> = {}): RunMeta {
  return newRunMeta({
    runId: newRunId(),
    agent: 'morning-triage',
    principal: 'user:ops@example.com',
    trigger: { kind: 'cli' },
    input: { repo: 'acme/shop', labels: ['bug', 'p1'] },
    createdAt: '2026-01-05T08:00:00.000Z',
    ...overrides,
  });
}

export function userMessage(text: string): Message {
  return { role: 'user', content: [{ type: 'text', text }] };
}

export function traceEvent(runId: string, seq: number, detail?: string): TraceEvent {
  return {
    runId,
    seq,
    kind: 'model_call',
    role: 'maker',
    name: 'scripted',
    status: 'ok',
    startedAt: '2026-01-05T08:00:01.000Z',
    endedAt: '2026-01-05T08:00:02.000Z',
    latencyMs: 1000,
    inputTokens: 10,
    outputTokens: 5,
    cachedInputTokens: 0,
    costMicros: 42,
    ...(detail === undefined ? {} : { detail }),
  };
}

export const context: RunContext = {
  systemPrompt: 'You triage issues.',
  tools: [
    {
      name: 'github__list_issues',
      server: 'github',
      tool: 'list_issues',
      description: 'List issues',
      // JSON schemas have keys DynamoDB maps dislike (empty, `$`-prefixed): stored as text.
      inputSchema: { type: 'object', properties: { '': { type: 'string' }, $ref: { type: 'string' } } },
      readOnly: true,
      destructive: false,
      requiresApproval: false,
    },
  ],
  view: {} as RunContext['view'],
};

/** The commit a step makes: the record moved on by one, with what it wrote. */
export function stepCommit(
  meta: RunMeta,
  writes: { messages?: Message[]; trace?: number; context?: RunContext; traceDetail?: string } = {},
): StepCommit {
  const messages = (writes.messages ?? []).map((message, i) => ({ seq: meta.messageCount + i + 1, message }));
  const trace = Array.from({ length: writes.trace ?? 0 }, (_, i) =>
    traceEvent(meta.runId, meta.traceCount + i + 1, writes.traceDetail),
  );
  return {
    expectedSeq: meta.seq,
    meta: {
      ...meta,
      seq: meta.seq + 1,
      status: 'running',
      messageCount: meta.messageCount + messages.length,
      traceCount: meta.traceCount + trace.length,
    },
    messages,
    trace,
    ...(writes.context ? { context: writes.context } : {}),
  };
}

export function approval(approvalId: string, runId: string, overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    approvalId,
    runId,
    seq: 3,
    taskToken: 'token-never-shown',
    tools: ['github__delete_branch'],
    callIds: ['call-1'],
    reasons: ['github.delete_branch is flagged destructive'],
    approvers: ['ops@example.com'],
    status: 'pending',
    createdAt: '2026-01-05T08:00:00.000Z',
    expiresAt: '2026-01-06T08:00:00.000Z',
    ...overrides,
  };
}
