import type { Message } from '../../core/definitions/messages.ts';
import type { RunMeta, StopReason, TriggerInfo } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import { newRunMeta } from '../../core/run/request-run.ts';

/**
 * Writes a recorded run straight through the store's own commit path, as its steps would
 * have: a run of thousands of steps in a few seconds, without driving a model that long.
 * Each commit holds 45 events and 45 messages (a transaction allows 100 items).
 */
export interface SeedOptions {
  runId: string;
  agent: string;
  steps: number;
  createdAt?: string;
  trigger?: TriggerInfo;
  stopReason?: StopReason;
  /** Text for every tool call's detail and result (tests put markup here). */
  toolText?: string;
  team?: string;
}

const PER_COMMIT = 45;

export async function seedRun(store: RunStore, options: SeedOptions): Promise<RunMeta> {
  const createdAt = options.createdAt ?? '2026-01-05T08:00:00.000Z';
  const start = Date.parse(createdAt);
  let meta = newRunMeta({
    runId: options.runId,
    agent: options.agent,
    principal: 'local:tester',
    trigger: options.trigger ?? { kind: 'cli' },
    input: { seeded: true },
    createdAt,
    team: options.team ?? 'tests',
    owner: 'tests@example.com',
  });
  await store.createRun(meta);
  meta = { ...meta, status: 'running', startedAt: createdAt };
  for (let done = 0; done < options.steps; ) {
    const count = Math.min(PER_COMMIT, options.steps - done);
    const trace: TraceEvent[] = [];
    const messages: Array<{ seq: number; message: Message }> = [];
    for (let i = 0; i < count; i++) {
      const seq = meta.traceCount + i;
      const model = seq % 2 === 0;
      const at = new Date(start + seq * 1000);
      const callId = `call-${seq}`;
      trace.push({
        runId: meta.runId,
        seq,
        kind: model ? 'model_call' : 'tool_call',
        role: 'maker',
        name: model ? 's-console' : 'everything.echo',
        status: 'ok',
        startedAt: at.toISOString(),
        endedAt: new Date(at.getTime() + 400 + (seq % 5) * 100).toISOString(),
        latencyMs: 400 + (seq % 5) * 100,
        inputTokens: model ? 100 : 0,
        outputTokens: model ? 20 : 0,
        cachedInputTokens: 0,
        costMicros: model ? 600 : 0,
        ...(model
          ? { model: 's-console', provider: 'scripted', scripted: true }
          : { server: 'everything', tool: 'echo', callId, attempt: 1, detail: options.toolText }),
      });
      messages.push({
        seq: meta.messageCount + i,
        message: model
          ? {
              role: 'assistant',
              content: [
                { type: 'text', text: `step ${seq}` },
                {
                  type: 'tool_call',
                  id: `call-${seq + 1}`,
                  name: 'everything__echo',
                  arguments: { message: options.toolText ?? `step ${seq}` },
                },
              ],
            }
          : {
              role: 'tool',
              content: [
                {
                  type: 'tool_result',
                  callId,
                  name: 'everything__echo',
                  content: `Echo: ${options.toolText ?? `step ${seq}`}`,
                  isError: false,
                },
              ],
            },
      });
    }
    const last = done + count >= options.steps;
    const next: RunMeta = {
      ...meta,
      seq: meta.seq + 1,
      traceCount: meta.traceCount + count,
      messageCount: meta.messageCount + count,
      modelCalls: meta.modelCalls + trace.filter((event) => event.kind === 'model_call').length,
      toolCalls: meta.toolCalls + trace.filter((event) => event.kind === 'tool_call').length,
      usage: {
        ...meta.usage,
        inputTokens: meta.usage.inputTokens + trace.reduce((sum, event) => sum + event.inputTokens, 0),
        outputTokens: meta.usage.outputTokens + trace.reduce((sum, event) => sum + event.outputTokens, 0),
        costMicros: meta.usage.costMicros + trace.reduce((sum, event) => sum + event.costMicros, 0),
      },
      ...(last
        ? {
            status: 'finished' as const,
            stopReason: options.stopReason ?? 'completed',
            endedAt: new Date(start + options.steps * 1000).toISOString(),
          }
        : {}),
    };
    const outcome = await store.commit(meta.runId, { expectedSeq: meta.seq, meta: next, trace, messages });
    if (outcome !== 'committed') throw new Error(`seeding ${meta.runId} went stale at seq ${meta.seq}`);
    meta = next;
    done += count;
  }
  return meta;
}
