import { describe, expect, it } from 'vitest';
import type { RunStatus } from '../../core/definitions/run.ts';
import { sandboxesToStop, type SandboxTaskInfo } from '../../core/sandbox/sweep.ts';

/** The sweeper's decision: which sandbox tasks to stop, and why (core/sandbox/sweep.ts). */

const now = new Date('2026-03-01T12:00:00Z');
const minutes = (n: number) => new Date(now.getTime() - n * 60_000);
const policy = { maxAgeMs: 24 * 3_600_000, graceMs: 10 * 60_000 };
const task = (sandboxId: string, ageMinutes: number): SandboxTaskInfo => ({
  taskArn: `arn:aws:ecs:us-east-1:123456789012:task/sandboxes/${sandboxId}-t`,
  sandboxId,
  createdAt: minutes(ageMinutes),
});

describe('sandboxesToStop', () => {
  it('stops exactly the tasks of finished, failed and missing runs and those past the hard cap', () => {
    const tasks = [
      task('run-running', 30),
      task('run-paused', 60),
      task('run-queued', 5),
      task('run-finished', 30),
      task('run-failed', 2),
      task('run-gone', 30),
      task('run-new', 1),
      task('run-ancient', 24 * 60 + 1),
    ];
    const runs = new Map<string, RunStatus | undefined>([
      ['run-running', 'running'],
      ['run-paused', 'paused'],
      ['run-queued', 'queued'],
      ['run-finished', 'finished'],
      ['run-failed', 'failed'],
      ['run-gone', undefined],
      ['run-new', undefined],
      ['run-ancient', 'paused'],
    ]);
    const decisions = sandboxesToStop(tasks, runs, now, policy);
    expect(decisions.map((decision) => [decision.sandboxId, decision.reason])).toEqual([
      ['run-finished', 'run run-finished is finished'],
      ['run-failed', 'run run-failed is failed'],
      ['run-gone', 'run run-gone does not exist'],
      ['run-ancient', 'older than 24 h (the sandbox hard cap)'],
    ]);
    expect(decisions.map((decision) => decision.taskArn)).toEqual([
      tasks[3]!.taskArn,
      tasks[4]!.taskArn,
      tasks[5]!.taskArn,
      tasks[7]!.taskArn,
    ]);
  });

  it("stops an ended run's task however young, and leaves a live run's task until exactly the cap", () => {
    const runs = new Map<string, RunStatus | undefined>([
      ['a', 'finished'],
      ['b', 'running'],
      ['c', 'running'],
    ]);
    const decisions = sandboxesToStop([task('a', 0), task('b', 24 * 60 - 1), task('c', 24 * 60)], runs, now, policy);
    expect(decisions.map((decision) => decision.sandboxId)).toEqual(['a', 'c']);
  });

  it('gives a task whose run is not found yet its grace period, then stops it', () => {
    const runs = new Map<string, RunStatus | undefined>();
    expect(sandboxesToStop([task('x', 9)], runs, now, policy)).toEqual([]);
    expect(sandboxesToStop([task('x', 10)], runs, now, policy).map((decision) => decision.reason)).toEqual([
      'run x does not exist',
    ]);
  });

  it('stops every task of a sandbox that has several (a start race), and nothing when there are no tasks', () => {
    const runs = new Map<string, RunStatus | undefined>([['d', 'failed']]);
    expect(sandboxesToStop([task('d', 3), task('d', 4)], runs, now, policy)).toHaveLength(2);
    expect(sandboxesToStop([], runs, now, policy)).toEqual([]);
  });
});
