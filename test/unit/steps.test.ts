import { describe, expect, it } from 'vitest';
import { textOf, type ToolResultBlock } from '../../core/definitions/messages.ts';
import { TransientError } from '../../core/errors.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import { approveCalls, requestApprovalStep } from '../../core/run/approval.ts';
import { modelStep } from '../../core/run/model-step.ts';
import { startRunStep } from '../../core/run/start-run.ts';
import { toolStep } from '../../core/run/tool-step.ts';
import { drive, newRun, stepDeps } from '../support/step-deps.ts';

/**
 * The steps' decisions, calling them directly on the in-memory store with the scripted
 * model and a fake tool gateway: no DynamoDB Local, no state machine, no MCP server.
 * Each agent is in test/fixtures/steps-org. The same decisions on the whole local host
 * are in test/e2e/loop.test.ts and test/e2e/budgets.test.ts.
 */

const ORG = 'test/fixtures/steps-org';
const nexts = (controls: Array<{ next: string }>) => controls.map((control) => control.next);

async function ended(agent: string) {
  const deps = await stepDeps(ORG);
  const runId = await newRun(deps, agent);
  const controls = await drive(deps, runId);
  const state = await deps.store.loadState(runId);
  return {
    deps,
    runId,
    controls,
    meta: state!.meta,
    messages: state!.messages,
    trace: await deps.store.listTrace(runId),
  };
}

describe('ModelStep stops a run', () => {
  it('at max_steps: a model asking for tools after its last allowed step', async () => {
    const { meta, controls, deps } = await ended('steps');
    expect(meta).toMatchObject({ status: 'finished', stopReason: 'max_steps', modelCalls: 3 });
    // Its read-only calls are made by the model step that asked for them (no ToolStep).
    expect(nexts(controls)).toEqual(['model', 'model', 'model', 'finish', 'finish']);
    expect(deps.gateway.calls).toHaveLength(2);
  });

  it('when stalled: the same calls with the same arguments turn after turn', async () => {
    const { meta, deps } = await ended('stall');
    expect(meta).toMatchObject({ stopReason: 'stalled', modelCalls: 3 });
    expect(meta.stopDetail).toMatch(/same tool calls with the same arguments 3 turns in a row \(fake__echo\)/);
    expect(deps.gateway.calls).toHaveLength(2);
  });

  it("at the run's token budget (harness.max_tokens_per_run)", async () => {
    const { meta } = await ended('tokens');
    // 10,500 tokens a call; a third could take its prompt plus 4,096 output tokens more: stopped before it.
    expect(meta).toMatchObject({ stopReason: 'token_budget', modelCalls: 2 });
    expect(meta.stopDetail).toMatch(
      /^used 21000 tokens; the next call could use up to \d+ more, past the limit of 25000/,
    );
  });

  it("when the team's budget is exhausted, with the spend settled in the ledger and the rollups", async () => {
    const { meta, deps, trace } = await ended('spender');
    expect(meta.stopReason).toBe('budget_exhausted');
    const today = new Date();
    const period = today.toISOString().slice(0, 10);
    const usage = await deps.store.getBudgetUsage('team', 'spenders', period);
    // Every reservation settled or given back: what is used is what was spent, the run's own cost.
    expect(usage.usedMicros).toBe(usage.spentMicros);
    expect(usage.spentMicros).toBe(meta.usage.costMicros);
    expect(usage.spentMicros).toBeGreaterThan(50_000);
    const [row] = await deps.store.listRollups('team', period, period);
    expect(row).toMatchObject({ key: 'spenders', costMicros: meta.usage.costMicros, calls: meta.modelCalls });
    expect(trace.at(-1)).toMatchObject({ kind: 'run_finished' });
  });
});

describe('ToolStep', () => {
  it("refuses a denied tool without calling it, tells the model, and runs the turn's other calls", async () => {
    const { meta, deps, messages } = await ended('denied');
    expect(meta).toMatchObject({ stopReason: 'completed', modelCalls: 2 });
    expect(deps.gateway.calls).toEqual([{ server: 'fake', tool: 'echo', args: { message: 'allowed' } }]);
    const results = messages.flatMap((m) => m.content).filter((b): b is ToolResultBlock => b.type === 'tool_result');
    expect(results.map((r) => [r.name, r.isError])).toEqual([
      ['fake__delete', true],
      ['fake__echo', false],
    ]);
    expect(results[0]!.content).toMatch(/delete/);
  });

  // ModelStep says approval, RequestApproval waits, approving sends the run to its tools.
  it('runs a call that needs approval only once approved', async () => {
    const deps = await stepDeps(ORG);
    const runId = await newRun(deps, 'approval');
    const controls = await drive(deps, runId);
    expect(controls.at(-1)).toMatchObject({ next: 'approval', approvalTimeoutSeconds: 3600 });
    expect(deps.gateway.calls).toEqual([]);
    const { approvalId } = await requestApprovalStep(deps, { runId, seq: controls.at(-1)!.seq, taskToken: 'token-1' });
    expect(await deps.store.getApproval(approvalId)).toMatchObject({
      status: 'pending',
      tools: ['fake.write'],
      approvers: ['lead@example.com'],
    });
    expect((await deps.store.getRun(runId))?.status).toBe('paused');
    const { taskToken, output } = await approveCalls(deps, approvalId, 'lead@example.com');
    expect(taskToken).toBe('token-1');
    expect(output.next).toBe('tools');
    await toolStep(deps, { runId, seq: output.seq });
    expect(deps.gateway.calls).toEqual([{ server: 'fake', tool: 'write', args: { text: 'hello' } }]);
  });
});

describe('Verify', () => {
  it('hands the checker run to the state machine (no children port), then takes its verdict', async () => {
    const { meta, controls, deps } = await ended('verified');
    expect(nexts(controls)).toEqual(['model', 'verify', 'delegate', 'finish', 'finish']);
    expect(meta).toMatchObject({ stopReason: 'verified', verifyAttempts: 1, modelCalls: 1 });
    const checker = await deps.store.getRun(controls[2]!.childRunId!);
    expect(checker).toMatchObject({ role: 'checker', status: 'finished', verdict: { pass: true, feedback: 'Good.' } });
    expect(meta.checkerUsage.costMicros).toBe(checker!.usage.costMicros);
  });
});

describe('a step retried by seq', () => {
  it('replays its stored answer and does the work once', async () => {
    const deps = await stepDeps(ORG);
    const runId = await newRun(deps, 'steps');
    const started = await startRunStep(deps, { runId });
    expect(await startRunStep(deps, { runId })).toEqual(started);
    const first = await modelStep(deps, { runId, seq: started.seq });
    const traceAfterFirst = await deps.store.listTrace(runId);
    expect(await modelStep(deps, { runId, seq: started.seq })).toEqual(first);
    expect(await deps.store.listTrace(runId)).toEqual(traceAfterFirst);
    expect((await deps.store.getRun(runId))?.modelCalls).toBe(1);
    const tools = await toolStep(deps, { runId, seq: first.seq });
    expect(await toolStep(deps, { runId, seq: first.seq })).toEqual(tools);
    expect(deps.gateway.calls).toHaveLength(1);
    // A step that lost the race to a later seq is refused, not run.
    await expect(modelStep(deps, { runId, seq: started.seq - 1 })).rejects.toThrow(/second execution/);
  });

  /** An approved turn of one write call, whose ToolStep's commit fails once with `failure`. */
  async function commitFailingOnce(failure: Error) {
    let failures = 1;
    const deps = await stepDeps(ORG);
    const store = deps.store;
    const failing: RunStore = {
      ...store,
      commit: async (runId, commit) => (failures-- > 0 ? Promise.reject(failure) : store.commit(runId, commit)),
    };
    const runId = await newRun(deps, 'approval');
    const controls = await drive(deps, runId);
    const { approvalId } = await requestApprovalStep(deps, { runId, seq: controls.at(-1)!.seq, taskToken: 't' });
    const { output } = await approveCalls(deps, approvalId);
    await expect(toolStep({ ...deps, store: failing }, { runId, seq: output.seq })).rejects.toThrow(failure.message);
    const retried = await toolStep({ ...deps, store: failing }, { runId, seq: output.seq });
    expect(retried.next).toBe('model');
    // Never made twice.
    expect(deps.gateway.calls.filter((call) => call.tool === 'write')).toHaveLength(1);
    const last = (await deps.store.loadState(runId))!.messages.at(-1)!;
    return textOf(last) + JSON.stringify(last.content);
  }

  it('never repeats a side-effecting call whose commit was refused for now: its outcome is recorded alone, and the retry reuses it', async () => {
    // A transaction conflict or throttling: the state machine retries the step.
    const refused = new TransientError('DynamoDB commit of run r was cancelled (TransactionConflict); try again');
    expect(await commitFailingOnce(refused)).toContain('write ran with');
  });

  it('tells the model a call is in doubt when the step died at the commit that was to record it, and does not repeat it', async () => {
    // Not a store error: the function died between the call and the commit (what a crash looks like from the retry).
    expect(await commitFailingOnce(new Error('crashed'))).toContain('may have acted without recording an outcome');
  });
});
