import { textOf } from '../definitions/messages.ts';
import { addUsage, runUsage, type Control, type RunMeta, type StepInput, type TurnState } from '../definitions/run.ts';
import { checkerMessage, verificationFeedback, verificationPassed } from '../loop/prompt.ts';
import { releasedToolNames } from '../policy/verify-release.ts';
import { checkFeedback } from '../loop/checks.ts';
import { spendLimit } from '../loop/limits.ts';
import type { RunDeps } from './deps.ts';
import type { RunRecordStore } from '../ports/store/runs.ts';
import { checkerRunId } from './ids.ts';
import { loadStartedRun } from './load.ts';
import { initializeRun, type InitializeRunDeps } from './start-run.ts';
import { newRunMeta } from './request-run.ts';
import { replayedControl, StepWriter } from './step-writer.ts';
import { chargeToolCosts } from './sandbox.ts';
import { runCheck } from './verify-checks.ts';
import type { StartedRunState } from './load.ts';

/** What Verify uses: what starting the checker's run takes, and the in-process children port where there is one. */
export type VerifyDeps = InitializeRunDeps & Pick<RunDeps, 'children'>;

/**
 * Verify: first `verify.checks` (tests in the sandbox, tool results), one per invocation of
 * this step, then the checker reviews the maker's result. A failing check goes back to the
 * maker with its output's tail, and the checker (its model, its tokens) is not called.
 *
 * The checker The checker is a run of its own (its
 * own model, instructions, read-only tools, trace), linked to the parent; its cost is
 * rolled into the parent's and shown apart. A failed check sends the checker's feedback
 * back to the maker until the attempts run out.
 *
 * The checker run is recorded here (its first message is the task plus the maker's result),
 * then runs as its own execution of the state machine: with the in-process children port
 * (the local host) as a nested execution this step waits for; without it (AWS) Verify
 * commits `next: delegate` with `childRunId` and `returnTo: verify`, the Delegate state runs
 * the child execution (`startExecution.sync:2`), and the state machine comes back here,
 * where the checker's run record gives the verdict.
 */
export async function verifyStep(deps: VerifyDeps, input: StepInput): Promise<Control> {
  const state = await loadStartedRun(deps, input.runId);
  const replay = replayedControl(state.meta, input.seq);
  if (replay) return replay;
  const { meta, context, messages } = state;
  const verify = context.view.verify;
  const writer = new StepWriter(meta);
  if (!verify) {
    writer.meta.pendingStop = { reason: 'completed', detail: 'no checker is declared' };
    return writer.commit(deps, 'finish');
  }
  const attempt = meta.verifyAttempts + 1;
  const passed = meta.turn?.checksPassed ?? 0;
  if (verify.checks && passed < verify.checks.length) return checkStep(deps, state, writer, passed, attempt);
  const firstMessage = () => {
    const lastAnswer = [...messages].reverse().find((message) => message.role === 'assistant');
    return checkerMessage(messages[0]!, lastAnswer ? textOf(lastAnswer) : '', verify.criteria);
  };
  let started = deps.clock.now();
  let child: RunMeta;
  if (deps.children) child = await runChecker(deps, meta, attempt, firstMessage);
  else {
    const childRunId = checkerRunId(meta.runId, attempt);
    if (!meta.turn?.delegatedRuns?.includes(childRunId)) {
      // Handed to the state machine: Route → Delegate runs the checker's execution, then back to Verify.
      await recordChecker(deps, meta, attempt, firstMessage);
      const delegatedRuns = [...(writer.meta.turn?.delegatedRuns ?? []), childRunId];
      writer.meta.turn = { ...writer.meta.turn, delegatedRuns };
      return writer.commit(deps, 'delegate', { childRunId, returnTo: 'verify' });
    }
    // Back from the Delegate state (whether the child execution succeeded, failed or could not start): its run record says.
    child = (await deps.store.getRun(childRunId))!;
    started = new Date(child.createdAt);
    writer.meta.turn = withoutDelegated(writer.meta.turn, childRunId);
  }
  const ended = deps.clock.now();
  const childUsage = runUsage(child);
  const verdict = child.verdict ?? {
    pass: false,
    feedback: `the checker gave no verdict (it stopped: ${child.stopReason ?? 'unknown'}${child.stopDetail ? `, ${child.stopDetail}` : ''})`,
  };

  const m = writer.meta;
  m.turn = withoutChecks(m.turn);
  m.verifyAttempts = attempt;
  m.checkerUsage = addUsage(m.checkerUsage, childUsage);
  writer.addTrace({
    kind: 'verification',
    role: 'checker',
    name: verify.checker.subagent ?? 'checker',
    status: verdict.pass ? 'pass' : 'fail',
    startedAt: started.toISOString(),
    endedAt: ended.toISOString(),
    latencyMs: Math.max(0, ended.getTime() - started.getTime()),
    ...childUsage,
    model: verify.checker.model.name,
    provider: verify.checker.model.declaration.provider,
    scripted: verify.checker.model.declaration.provider === 'scripted' || undefined,
    attempt,
    childRunId: child.runId,
    detail: verdict.feedback.slice(0, 2000),
  });
  if (verdict.pass && verify.release) {
    // The tools verify.release held are the maker's now, for one more turn (model-step ends it `verified`).
    m.verified = { attempt, at: ended.toISOString() };
    writer.addMessage(verificationPassed(attempt, releasedToolNames(context)));
    return writer.commit(deps, 'model');
  }
  if (verdict.pass) {
    m.pendingStop = { reason: 'verified', detail: `the checker passed attempt ${attempt}` };
    return writer.commit(deps, 'finish');
  }
  if (attempt >= verify.maxAttempts) {
    m.pendingStop = {
      reason: 'verification_failed',
      detail: `the checker failed all ${attempt} attempts; last feedback: ${verdict.feedback.slice(0, 500)}`,
    };
    return writer.commit(deps, 'finish');
  }
  const overSpend = spendLimit(m, context.view.limits);
  if (overSpend) {
    m.pendingStop = { reason: overSpend.reason, detail: overSpend.detail };
    return writer.commit(deps, 'finish');
  }
  writer.addMessage(verificationFeedback(attempt, verdict.feedback));
  return writer.commit(deps, 'model');
}

/** Records the checker run for this attempt (once: its id is the attempt's) with its first message, ready for its execution. */
async function recordChecker(
  deps: InitializeRunDeps,
  parent: RunMeta,
  attempt: number,
  firstMessage: () => ReturnType<typeof checkerMessage>,
): Promise<RunMeta> {
  const parentState = await loadStartedRun(deps, parent.runId);
  const view = parentState.context.view.verify!.checker;
  const runId = checkerRunId(parent.runId, attempt);
  const { meta } = await deps.store.createRun(
    newRunMeta({
      runId,
      agent: parent.agent,
      subagent: view.subagent,
      role: 'checker',
      team: parent.team,
      owner: parent.owner,
      principal: parent.principal,
      trigger: { kind: 'subagent', detail: `verification of ${parent.runId}, attempt ${attempt}` },
      parentRunId: parent.runId,
      input: { attempt },
      callOffset: parent.verifyAttempts === 0 ? 0 : await checkerCallsSoFar(deps, parent),
      createdAt: deps.clock.now().toISOString(),
    }),
  );
  if (meta.seq === 0) await initializeRun(deps, meta, view, firstMessage());
  return meta;
}

/** Creates (or resumes) the checker run for this attempt and runs it to its end as a nested execution (the in-process children port). */
async function runChecker(
  deps: VerifyDeps,
  parent: RunMeta,
  attempt: number,
  firstMessage: () => ReturnType<typeof checkerMessage>,
): Promise<RunMeta> {
  const meta = await recordChecker(deps, parent, attempt, firstMessage);
  // Its own execution of the same state machine: StartRun replays the start committed above
  // (the checker's first message is built here, from the parent), then its steps run as any run's do.
  if (meta.status !== 'finished' && meta.status !== 'failed') await deps.children!.runToEnd(meta.runId);
  return (await deps.store.getRun(meta.runId))!;
}

/** Model calls made by earlier checker attempts of this run (a scripted checker plays on from there). */
async function checkerCallsSoFar(deps: { store: RunRecordStore }, parent: RunMeta): Promise<number> {
  let calls = 0;
  for (let attempt = 1; attempt <= parent.verifyAttempts; attempt++) {
    const previous = await deps.store.getRun(checkerRunId(parent.runId, attempt));
    calls += previous?.modelCalls ?? 0;
  }
  return calls;
}

/**
 * One check of `verify.checks` (the `index`th: those before it passed in this attempt). Each
 * is committed on its own, so a crash runs again at most the check under way, and each
 * invocation holds at most one check's timeout. Passed: on to the next (or the checker);
 * failed: the maker reads why, or the run stops `verification_failed` naming the check.
 */
async function checkStep(
  deps: VerifyDeps,
  state: StartedRunState,
  writer: StepWriter,
  index: number,
  attempt: number,
): Promise<Control> {
  const verify = state.context.view.verify!;
  const check = verify.checks![index]!;
  const ran = await runCheck(deps, state.context.view, writer.meta, check, attempt);
  const m = writer.meta;
  writer.addTrace(ran.trace);
  chargeToolCosts(writer, [ran.trace], deps.clock.now());
  if (ran.sandboxCreatedAt) m.sandboxCreatedAt = ran.sandboxCreatedAt;
  if (ran.pass) {
    m.turn = { ...m.turn, checksPassed: index + 1 };
    return writer.commit(deps, 'verify');
  }
  m.turn = withoutChecks(m.turn);
  m.verifyAttempts = attempt;
  if (attempt >= verify.maxAttempts) {
    m.pendingStop = {
      reason: 'verification_failed',
      detail: `the check "${check.name}" did not pass on the last attempt (${attempt} of ${verify.maxAttempts}): ${ran.outcome.slice(0, 500)}`,
    };
    return writer.commit(deps, 'finish');
  }
  const overSpend = spendLimit(m, state.context.view.limits);
  if (overSpend) {
    m.pendingStop = { reason: overSpend.reason, detail: overSpend.detail };
    return writer.commit(deps, 'finish');
  }
  // What the check printed is now in the maker's context, as a tool result would be: later writes may need a human.
  m.untrusted = true;
  writer.addMessage(checkFeedback(check, attempt, verify.maxAttempts, ran.outcome, ran.output));
  return writer.commit(deps, 'model');
}

/** The turn state without a checker run that came back; none at all when nothing else is left in it. */
function withoutDelegated(turn: TurnState | undefined, childRunId: string): TurnState | undefined {
  const delegatedRuns = turn?.delegatedRuns?.filter((id) => id !== childRunId);
  return tidy({ ...turn, delegatedRuns: delegatedRuns?.length ? delegatedRuns : undefined });
}

/** The turn state once an attempt is decided: the next attempt runs every check again. */
function withoutChecks(turn: TurnState | undefined): TurnState | undefined {
  return tidy({ ...turn, checksPassed: undefined });
}

function tidy(turn: TurnState): TurnState | undefined {
  return Object.values(turn).some((value) => value !== undefined) ? turn : undefined;
}
