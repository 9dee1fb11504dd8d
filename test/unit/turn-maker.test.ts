import { describe, expect, it } from 'vitest';
import type { ToolCallBlock } from '../../core/definitions/messages.ts';
import { loadStartedRun } from '../../core/run/load.ts';
import { startRunStep } from '../../core/run/start-run.ts';
import { STEP_SECONDS, turnMaker } from '../../core/run/tool-turn.ts';
import { newRun, stepDeps } from '../support/step-deps.ts';

/**
 * Which step makes a turn's calls (core/run/tool-turn.ts), on a started run of
 * test/fixtures/steps-org's `steps` agent: its `fake` server declares echo read-only and
 * write and delete as writes, with the default call timeout (60 s).
 */

async function started() {
  const deps = await stepDeps('test/fixtures/steps-org');
  const runId = await newRun(deps, 'steps');
  await startRunStep(deps, { runId });
  return loadStartedRun(deps, runId);
}

const call = (name: string, index = 0): ToolCallBlock => ({
  type: 'tool_call',
  id: `call-${index}`,
  name,
  arguments: {},
});

describe('turnMaker', () => {
  it('makes read-only calls with the answer and writes after it', async () => {
    const state = await started();
    expect(turnMaker(state, [call('fake__echo')], 0)).toBe('with-answer');
    expect(turnMaker(state, [call('fake__echo'), call('fake__write', 1)], 0)).toBe('after-answer');
    expect(turnMaker(state, [call('fake__delete')], 0)).toBe('after-answer');
    // Refused without running (not granted, not a tool): nothing to make.
    expect(turnMaker(state, [call('nobody__nothing')], 0)).toBe('with-answer');
  });

  it('leaves the calls to the ToolStep when they might not end within what is left of the step', async () => {
    const state = await started();
    // One write: 60 s at most. A read is tried twice: 120 s. Four calls run at a time.
    const margin = 30;
    expect(turnMaker(state, [call('fake__write')], STEP_SECONDS - margin - 60)).toBe('after-answer');
    expect(turnMaker(state, [call('fake__write')], STEP_SECONDS - margin - 59)).toBe('tool-step');
    expect(turnMaker(state, [call('fake__echo')], STEP_SECONDS - margin - 120)).toBe('with-answer');
    expect(turnMaker(state, [call('fake__echo')], STEP_SECONDS - margin - 119)).toBe('tool-step');
    const five = Array.from({ length: 5 }, (_, i) => call('fake__write', i));
    expect(turnMaker(state, five, STEP_SECONDS - margin - 120)).toBe('after-answer');
    expect(turnMaker(state, five, STEP_SECONDS - margin - 119)).toBe('tool-step');
  });
});
