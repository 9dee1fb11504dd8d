import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUsage, type RunMeta } from '../../core/definitions/run.ts';
import type { TraceEvent } from '../../core/definitions/trace.ts';
import { approveCalls } from '../../core/run/approval.ts';
import type { LocalHost } from '../../cli/local/host.ts';
import { runToEnd, testHost } from '../support/local-host.ts';

/**
 * Whole runs on the local host: the real ASL on aws-local-stepfunctions, the real
 * handlers, DynamoDB Local, and real MCP servers from npm. Each scenario is an agent in
 * test/fixtures/loop-org with a scripted model.
 */

let host: LocalHost;
beforeAll(async () => {
  host = await testHost('test/fixtures/loop-org');
});
afterAll(async () => {
  await host?.close();
});

const run = (agent: string, input: unknown = {}) => runToEnd(host, agent, input);

const kinds = (trace: TraceEvent[]) => trace.map((event) => event.kind);
const sumCost = (trace: TraceEvent[]) => trace.reduce((total, event) => total + event.costMicros, 0);

describe('a loop with a maker and a checker', () => {
  it('runs to verified: feedback goes back to the maker once, the second check passes', async () => {
    const { meta, trace, messages, outcome } = await run('basic', { task: 'Write note-1.' });
    expect(outcome?.status).toBe('SUCCEEDED');
    expect(meta).toMatchObject({
      status: 'finished',
      stopReason: 'verified',
      modelCalls: 4,
      toolCalls: 3,
      verifyAttempts: 2,
    });
    expect(kinds(trace)).toEqual([
      'run_started',
      'model_call',
      'tool_call',
      'tool_call',
      'model_call',
      'verification',
      'model_call',
      'tool_call',
      'model_call',
      'verification',
      'run_finished',
    ]);
    expect(trace.filter((e) => e.kind === 'verification').map((e) => [e.status, e.detail])).toEqual([
      ['fail', 'The note has no owner.'],
      ['pass', 'Good.'],
    ]);
    expect(trace.every((event) => event.kind !== 'model_call' || event.scripted === true)).toBe(true);
    // The maker's conversation: task, turns, tool results, the reviewer's feedback.
    expect(messages.map((m) => m.role)).toEqual([
      'user',
      'assistant',
      'tool',
      'assistant',
      'user',
      'assistant',
      'tool',
      'assistant',
    ]);
    expect(JSON.stringify(messages[4])).toContain('The note has no owner.');
    const toolResults = messages[2]!.content;
    expect(toolResults).toMatchObject([
      { type: 'tool_result', isError: false },
      { type: 'tool_result', isError: false, content: expect.stringContaining('5') },
    ]);
  });

  it("keeps costs exact: the run's totals are the sum of its trace, the checker's shown apart", async () => {
    const { meta, trace } = await run('basic');
    // Maker: (1000+1200+1300+1400) in at $3/M, (100+20+50+10) out at $15/M.
    expect(meta.usage.costMicros).toBe(4900 * 3 + 180 * 15);
    // Checker: 2 attempts × (500+600) in at $1/M, 2 × 60 out at $5/M.
    expect(meta.checkerUsage.costMicros).toBe(2200 * 1 + 120 * 5);
    expect(sumCost(trace)).toBe(runUsage(meta).costMicros);
    const checks = trace.filter((e) => e.kind === 'verification');
    for (const check of checks) {
      const child = await host.deps.store.getRun(check.childRunId!);
      expect(child).toMatchObject({
        role: 'checker',
        parentRunId: meta.runId,
        subagent: 'reviewer',
        stopReason: 'completed',
      });
      expect(runUsage(child!).costMicros).toBe(check.costMicros);
      expect(sumCost(await host.deps.store.listTrace(child!.runId))).toBe(check.costMicros);
    }
  });

  it("gives the checker the task and the maker's result, never the maker's conversation, and only read-only tools", async () => {
    const { trace } = await run('basic', { task: 'Write note-1.' });
    const childId = trace.find((e) => e.kind === 'verification')!.childRunId!;
    const child = await host.deps.store.loadState(childId);
    expect(child!.messages[0]!.content[0]).toMatchObject({
      type: 'text',
      text: expect.stringContaining('Write note-1.'),
    });
    expect(JSON.stringify(child!.messages[0])).toContain('Note written.');
    expect(JSON.stringify(child!.messages[0])).not.toContain('Writing the note.');
    expect(child!.context!.tools.map((t) => t.name).sort()).toEqual([
      'looprail__verdict',
      'notes__open_nodes',
      'notes__read_graph',
    ]);
  });

  it('stops verification_failed when the checker never passes, after max_attempts', async () => {
    const { meta, trace } = await run('never-satisfied');
    expect(meta).toMatchObject({ stopReason: 'verification_failed', verifyAttempts: 2 });
    expect(meta.stopDetail).toContain('Still not right.');
    expect(trace.filter((e) => e.kind === 'verification')).toHaveLength(2);
  });

  it("runs ModelStep → Route → ModelStep per iteration: 2 transitions (the ModelStep makes its turn's calls), payloads of ids only", async () => {
    const { outcome, trace } = await run('basic');
    const states = outcome!.statesEntered;
    expect(trace.filter((e) => e.kind === 'tool_call').length).toBeGreaterThan(0);
    const afterModel = states.flatMap((state, i) => (state === 'ModelStep' ? [states.slice(i, i + 3).join('>')] : []));
    expect(afterModel).toContain('ModelStep>Route>ModelStep');
    // Its calls reach no sandbox, skill or sub-agent and need no approval: no ToolStep.
    expect(states).not.toContain('ToolStep');
    expect(outcome!.largestPayloadBytes).toBeLessThan(400);
  });

  it('never starts a second run for the same dedupe key', async () => {
    const first = await host.run({ agent: 'basic', input: {}, dedupeKey: 'delivery-42' });
    const second = await host.run({ agent: 'basic', input: {}, dedupeKey: 'delivery-42' });
    expect(second).toMatchObject({ runId: first.runId, created: false });
    expect(second.outcome).toBeUndefined();
    expect(await host.deps.store.listTrace(first.runId)).toHaveLength(11);
  });
});

describe('tool calls that are refused or fail', () => {
  it('refuses calls to tools the agent is not granted, records them, and goes on', async () => {
    const { meta, trace, messages } = await run('denied');
    expect(meta.stopReason).toBe('completed');
    const denied = trace.filter((e) => e.kind === 'tool_denied');
    expect(denied.map((e) => e.name)).toEqual(['notes__delete_entities', 'everything__get-env', 'nowhere__anything']);
    expect(denied.every((e) => e.status === 'denied' && e.detail!.includes('not a tool this agent may use'))).toBe(
      true,
    );
    expect(trace.filter((e) => e.kind === 'tool_call').map((e) => e.name)).toEqual(['everything.echo']);
    // The model was never shown them, and reads each refusal as a failed call.
    const state = await host.deps.store.loadState(meta.runId);
    expect(state!.context!.tools.map((t) => t.name)).not.toContain('notes__delete_entities');
    expect(messages[2]!.content.map((block) => block.type === 'tool_result' && block.isError)).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(meta.toolCalls).toBe(1);
  });

  it('stops guardrail_blocked on a refused call when the agent says on_denied_tool: stop', async () => {
    const { meta, trace } = await run('denied-stop');
    expect(meta.stopReason).toBe('guardrail_blocked');
    expect(meta.stopDetail).toContain('notes__delete_entities');
    expect(meta.modelCalls).toBe(1);
    expect(kinds(trace).at(-1)).toBe('run_finished');
  });

  it('records a tool that times out and a tool that rejects its arguments as failed calls, and goes on', async () => {
    const { meta, trace, messages } = await run('tool-errors');
    expect(meta.stopReason).toBe('completed');
    const calls = trace.filter((e) => e.kind === 'tool_call');
    expect(calls.map((e) => [e.name, e.status])).toEqual([
      ['everything.trigger-long-running-operation', 'error'],
      ['everything.get-sum', 'error'],
    ]);
    expect(calls[0]!.detail).toContain('did not answer within 2 s');
    // Arguments that do not fit the tool's schema never reach the server.
    expect(calls[1]!.detail).toBe(
      'invalid arguments for everything.get-sum, so the call was not made: arguments/a must be number',
    );
    expect(calls[1]!.attempt).toBe(0);
    expect(meta.toolCalls).toBe(1);
    expect(calls[0]!.latencyMs).toBeLessThan(7000);
    expect(messages[2]!.content).toMatchObject([{ isError: true }, { isError: true }]);
  });
});

describe('org-wide tool rate limits', () => {
  it("refuse calls beyond a tool's limit per minute, across runs, without calling it", async () => {
    const { meta, trace } = await run('burst');
    expect(meta).toMatchObject({ stopReason: 'completed', toolCalls: 2 });
    const calls = trace.filter((e) => e.kind === 'tool_call');
    // The calls of a turn run in parallel: which one is refused is a race, that one is not.
    expect(calls.map((e) => e.status).sort()).toEqual(['error', 'ok', 'ok']);
    expect(calls.find((e) => e.status === 'error')!.detail).toMatch(
      /^rate limited: limited\.echo allows 2 calls a minute across the org/,
    );
  });
});

describe('tools that changed since the org reviewed them', () => {
  it('are disabled: hidden from the model, refused if called, and recorded when the run starts', async () => {
    const { meta, trace } = await run('pinned');
    expect(meta.stopReason).toBe('completed');
    expect(trace[0]!.detail).toContain('disabled, changed since pinned: pinned.echo');
    expect(trace.filter((e) => e.kind === 'tool_denied').map((e) => e.name)).toEqual(['pinned__echo']);
    expect(trace.filter((e) => e.kind === 'tool_call').map((e) => [e.name, e.status])).toEqual([
      ['pinned.get-sum', 'ok'],
    ]);
  });
});

describe('limits: every run ends with exactly one stop reason', () => {
  it('stops at max_steps', async () => {
    const { meta, trace } = await run('steps');
    expect(meta).toMatchObject({ stopReason: 'max_steps', modelCalls: 3 });
    expect(trace.filter((e) => e.kind === 'tool_call')).toHaveLength(2);
  });

  it('stops stalled when the same call repeats', async () => {
    const { meta } = await run('stall');
    expect(meta).toMatchObject({ stopReason: 'stalled', modelCalls: 3, toolCalls: 2 });
    expect(meta.stopDetail).toContain('3 turns in a row');
  });

  it('stops token_budget before a call whose worst case would pass max_tokens_per_run', async () => {
    const { meta } = await run('tokens');
    // 10,500 tokens a call; a third call could take up to ~4,700 more (its prompt plus 4,096 output tokens) past 25,000.
    expect(meta).toMatchObject({ stopReason: 'token_budget', modelCalls: 2 });
    expect(meta.stopDetail).toMatch(
      /^used 21000 tokens; the next call could use up to \d+ more, past the limit of 25000/,
    );
  });

  it('stops budget_exhausted before a call whose worst case would pass max_cost_usd', async () => {
    const { meta, trace } = await run('cost');
    // The first call costs 10,000 × $3/M + 500 × $15/M = $0.0375; the second's worst case
    // (its prompt, uncached, plus 600 output tokens) would take the run past $0.05, so it is not made.
    expect(meta).toMatchObject({ stopReason: 'budget_exhausted', modelCalls: 1 });
    expect(meta.usage.costMicros).toBe(37_500);
    expect(meta.stopDetail).toMatch(
      /^spent \$0\.0375; the next call could cost up to \$0\.\d+ more, past the run's ceiling of \$0\.05/,
    );
    expect(trace.filter((e) => e.kind === 'model_call')).toHaveLength(1);
  });

  it('stops timeout on the wall-clock limit', async () => {
    const { meta } = await run('wall-clock');
    expect(meta.stopReason).toBe('timeout');
    expect(meta.stopDetail).toContain('harness.max_duration');
  });

  it('ends error, naming the server, when a granted server cannot be started (after the retries)', async () => {
    const { meta, trace } = await run('broken-server');
    expect(meta).toMatchObject({ status: 'failed', stopReason: 'error', modelCalls: 0 });
    expect(meta.stopDetail).toMatch(
      /^looprail\.ToolUnavailable: MCP server "broken": could not start "node": the server process exited[\s\S]*broken: this server exits before the handshake/,
    );
    expect(kinds(trace)).toEqual(['run_failed']);
  });

  it('ends error, with the reason recorded, when a step fails for good', async () => {
    const { meta, trace, outcome } = await run('short');
    expect(outcome?.status).toBe('FAILED');
    expect(meta).toMatchObject({ status: 'failed', stopReason: 'error' });
    expect(meta.stopDetail).toContain('has 1 turns; call 2 has none');
    expect(kinds(trace)).toEqual(['run_started', 'model_call', 'tool_call', 'run_failed']);
  });
});

describe('model provider outages', () => {
  it("stops model_unavailable, with the provider's message, once the retries are spent", async () => {
    const { meta, trace, outcome } = await run('outage');
    expect(outcome?.status).toBe('SUCCEEDED');
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'model_unavailable', modelCalls: 0 });
    expect(meta.stopDetail).toContain('scripted model s-outage is unavailable');
    expect(kinds(trace)).toEqual(['run_started', 'run_finished']);
  });

  it('answers with the fallback model, and says so on the trace', async () => {
    const { meta, trace } = await run('outage-fallback');
    expect(meta.stopReason).toBe('completed');
    const call = trace.find((e) => e.kind === 'model_call')!;
    expect(call).toMatchObject({ name: 's-steady', fallback: true, costMicros: 100 + 50 });
    expect(call.detail).toContain('fallback: s-outage unavailable');
  });
});

describe('approval gates', () => {
  async function waitForPause(agent: string) {
    const running = host.run({ agent, input: {} });
    for (let i = 0; i < 200; i++) {
      const runs = await host.deps.store.listRuns({ agent });
      const paused = runs.find((r: RunMeta) => r.status === 'paused');
      if (paused) return { running, paused };
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('the run never paused');
  }

  it('pauses before a call that needs a human, and runs it once approved', async () => {
    const { running, paused } = await waitForPause('approval');
    const approval = await host.deps.store.getApproval(paused.pendingApprovalId!);
    expect(approval).toMatchObject({
      status: 'pending',
      tools: ['notes.create_entities'],
      approvers: ['lead@example.com'],
    });
    expect(approval!.reasons).toEqual(['the agent\'s approval rule "notes.create_entities"']);
    // The task token lives only in the approval record: not in the trace, the run record or the conversation.
    const recorded = JSON.stringify([
      await host.deps.store.listTrace(paused.runId),
      await host.deps.store.loadState(paused.runId),
    ]);
    expect(recorded).not.toContain(approval!.taskToken);
    expect(host.executor.pendingTokens()).toEqual([approval!.taskToken]);

    const { taskToken, output } = await approveCalls(host.deps, approval!.approvalId);
    host.executor.sendTaskSuccess(taskToken, output);
    const { meta } = await running;
    expect(meta.stopReason).toBe('completed');
    const trace = await host.deps.store.listTrace(meta.runId);
    expect(kinds(trace)).toEqual([
      'run_started',
      'model_call',
      'approval_requested',
      'approval_decided',
      'tool_call',
      'model_call',
      'run_finished',
    ]);
    expect(trace.find((e) => e.kind === 'tool_call')!.status).toBe('ok');
    expect(trace.find((e) => e.kind === 'approval_decided')).toMatchObject({
      name: 'notes.create_entities',
      status: 'ok',
      detail: expect.stringMatching(/: approved$/),
    });
  });

  it('asks for approval of every write once untrusted content is in the context, when the agent says so', async () => {
    const { running, paused } = await waitForPause('untrusted');
    expect(paused.toolCalls).toBe(1);
    const approval = await host.deps.store.getApproval(paused.pendingApprovalId!);
    expect(approval).toMatchObject({
      tools: ['everything.echo'],
      reasons: ['the run has read untrusted content, and the agent approves every write after that'],
    });
    const { taskToken, output } = await approveCalls(host.deps, approval!.approvalId);
    host.executor.sendTaskSuccess(taskToken, output);
    expect((await running).meta).toMatchObject({ stopReason: 'completed', toolCalls: 2 });
  });

  it('stops approval_expired when nobody decides in time', async () => {
    const { meta, trace } = await run('approval-expires');
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'approval_expired' });
    expect(kinds(trace)).toEqual(['run_started', 'model_call', 'approval_requested', 'run_finished']);
  });
});
