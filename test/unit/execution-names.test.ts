import { StateMachine } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { loadDefinition } from '../../cli/local/executor.ts';
import type { Control } from '../../core/definitions/run.ts';
import { continuing, epochOfExecution, executionNameFor, runIdOfExecution } from '../../core/run/continuation.ts';
import { delegateRunId } from '../../core/run/delegate.ts';
import { checkerRunId, MAX_RUN_ID, randomIds, runIdFor } from '../../core/run/ids.ts';

/**
 * Every execution name is at most 80 characters of what Step Functions allows, unique and
 * the same every time, however a run id was made (a trigger's dedupe key, a random id, a
 * delegated child's or a checker's, nested), at any epoch of continue-as-new; and the names
 * the state machine starts executions by (run through aws-local-stepfunctions) are exactly
 * those. Generated from a seeded generator, so a failure reproduces.
 */

function generator(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = generator(17);
const below = (n: number) => Math.floor(random() * n);
const text = (length: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789') =>
  Array.from({ length }, () => alphabet[below(alphabet.length)]).join('');

/** Run ids as the runtime mints them at the root, and synthetic ones of every allowed length. */
function rootIds(): string[] {
  const ids = [runIdFor('morning-triage', 'schedule-2026-01-05T06:00'), randomIds.newId('r')];
  for (let length = 1; length <= MAX_RUN_ID; length++) ids.push(length < 3 ? text(length) : `r-${text(length - 2)}`);
  return ids;
}

/** A chain of delegations and checks below a root, as nested sub-agents and checkers make. */
function descendants(root: string): Array<{ key: string; id: string }> {
  const made: Array<{ key: string; id: string }> = [];
  let id = root;
  let key = root;
  for (let depth = 0; depth < 8; depth++) {
    if (random() < 0.6) {
      const callId = `toolu_${text(1 + below(200), 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-')}`;
      key = `${key} d:${callId}`;
      id = delegateRunId(id, callId);
    } else {
      const attempt = 1 + below(25);
      key = `${key} c:${attempt}`;
      id = checkerRunId(id, attempt);
    }
    made.push({ key, id });
  }
  return made;
}

const EPOCHS = [0, 1, 2, 9, 10, 99, 1000, 123_456, 9_999_999];
const NAME = /^[A-Za-z0-9_-]{1,80}$/;

describe('execution names', () => {
  const roots = rootIds();
  const derived = roots.flatMap((root) => [...descendants(root), ...descendants(root)]);

  it('derived run ids fit, use only allowed characters, never hold the continuation marker, and are the same every time', () => {
    for (const { id } of derived) {
      expect(id.length, id).toBeLessThanOrEqual(MAX_RUN_ID);
      expect(id, id).toMatch(NAME);
      expect(id, id).not.toContain('--');
    }
    expect(checkerRunId('r-parent', 3)).toBe('r-parent-check3');
    expect(checkerRunId(`r-${'a'.repeat(68)}`, 12)).toBe(checkerRunId(`r-${'a'.repeat(68)}`, 12));
  });

  it('distinct derivations never share an id', () => {
    const byId = new Map<string, string>();
    for (const { key, id } of derived) {
      const earlier = byId.get(id);
      if (earlier !== undefined) expect(earlier, id).toBe(key);
      byId.set(id, key);
    }
    // Long parents that differ only at the end still give different children.
    const a = `r-${'x'.repeat(67)}a`;
    const b = `r-${'x'.repeat(67)}b`;
    expect(checkerRunId(a, 1)).not.toBe(checkerRunId(b, 1));
    expect(delegateRunId(a, 'call-1')).not.toBe(delegateRunId(b, 'call-1'));
  });

  it('every epoch of every run has a name of at most 80 characters that gives back the run and the epoch', () => {
    for (const id of [...roots, ...derived.map((each) => each.id)]) {
      for (const epoch of EPOCHS) {
        const name = executionNameFor(id, epoch);
        expect(name, `${id} @${epoch}`).toMatch(NAME);
        expect(runIdOfExecution(name)).toBe(id);
        expect(epochOfExecution(name)).toBe(epoch);
      }
    }
  });

  it('refuses, by name, a run id that cannot name an execution rather than cutting it', () => {
    expect(() => executionNameFor(`r-${'a'.repeat(MAX_RUN_ID)}`, 1)).toThrow(
      /run id "r-a+" cannot name an execution \(epoch 1\): expected at most 70 characters/,
    );
    expect(() => executionNameFor('r-a--b', 0)).toThrow(/without "--"/);
    expect(() => executionNameFor('r a', 0)).toThrow(/A-Z, a-z, 0-9/);
  });
});

/** The ASL with the step functions stubbed: StartRun hands over `current`, any step after it finishes the run. */
let current: Control = { runId: 'r-0', seq: 0, next: 'finish' };
let started: Array<{ state: string; name: string }> = [];
const machine = (() => {
  const { definition, functionOf } = loadDefinition();
  const overrides: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const state of functionOf.keys())
    overrides[state] = async () => ({
      Payload: state === 'StartRun' ? current : { runId: current.runId, seq: current.seq + 1, next: 'finish' },
    });
  for (const state of ['ContinueAsNew', 'Delegate'])
    overrides[state] = async (parameters) => {
      started.push({ state, name: (parameters as { Name: string }).Name });
      return { ExecutionArn: 'arn:aws:states:us-east-1:000000000000:execution:m:x', Status: 'SUCCEEDED' };
    };
  const built = new StateMachine(definition as never, { validationOptions: { checkArn: true, checkPaths: true } });
  return { built, overrides };
})();

/** Runs the state machine once with StartRun returning `control`; the executions it started, by state. */
async function startedFrom(control: Control): Promise<Array<{ state: string; name: string }>> {
  current = control;
  started = [];
  const context = {
    StateMachine: { Id: 'arn:aws:states:us-east-1:000000000000:stateMachine:m', Name: 'm' },
    Execution: { Id: `arn:aws:states:us-east-1:000000000000:execution:m:${control.runId}`, Name: control.runId },
  };
  await machine.built.run({ runId: control.runId } as never, {
    overrides: { taskResourceLocalHandlers: machine.overrides as never },
    context: context as never,
  }).result;
  return started;
}

describe('the names the state machine starts executions by', () => {
  const longest = (root: string) => descendants(root).reduce((a, b) => (b.id.length > a.id.length ? b : a)).id;
  const runs = rootIds()
    .filter((_, i) => i % 7 === 0)
    .flatMap((root) => [root, longest(root)]);

  it('continues a run in the execution named for its next epoch, within 80 characters', async () => {
    for (const runId of runs) {
      const epoch = 1 + below(9_999_998);
      const control = continuing({ runId, seq: epoch * 1000, next: 'model' }, executionNameFor(runId, epoch - 1));
      expect(control.next).toBe('continue');
      const started = await startedFrom(control);
      expect(started).toEqual([{ state: 'ContinueAsNew', name: executionNameFor(runId, epoch) }]);
      expect(started[0]!.name.length).toBeLessThanOrEqual(80);
    }
  });

  it('starts a delegated child or a checker by its run id, within 80 characters', async () => {
    for (const runId of runs) {
      for (const childRunId of [delegateRunId(runId, `toolu_${text(40)}`), checkerRunId(runId, 1 + below(25))]) {
        const started = await startedFrom({ runId, seq: 3, next: 'delegate', childRunId });
        expect(started).toEqual([{ state: 'Delegate', name: childRunId }]);
        expect(childRunId).toMatch(NAME);
      }
    }
  });
});
