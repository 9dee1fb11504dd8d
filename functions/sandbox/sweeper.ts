import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { DynamoRunStore } from '../../adapters/dynamodb/run-store.ts';
import { ENV_AGENT_MAX_SECONDS, ENV_SANDBOX_CLUSTER } from '../../adapters/sandbox/aws-contract.ts';
import { listSandboxTasks, stopSandboxTask } from '../../adapters/sandbox/ecs-tasks.ts';
import type { RunStatus } from '../../core/definitions/run.ts';
import { errorMessage } from '../../core/errors.ts';
import { systemClock, type Clock } from '../../core/ports/clock.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import type { Logger } from '../../core/ports/logger.ts';
import { sandboxesToStop, type SweepPolicy } from '../../core/sandbox/sweep.ts';
import { jsonLogger } from '../../adapters/logging/json-logger.ts';
import { SandboxSweeperEnv } from '../_shared/env-contract.ts';

/**
 * The sandbox sweeper, on a schedule: stops every sandbox task whose run has ended (or
 * does not exist), and any older than the hard cap, so a run that died without reaching
 * FinishRun/FailRun (or whose teardown failed) leaves nothing running and billing.
 * Which tasks: core/sandbox/sweep.ts. It lists and stops tasks and reads run records.
 */

export interface SweeperDeps {
  ecs: ECSClient;
  cluster: string;
  runs: Pick<RunStore, 'getRun'>;
  policy: SweepPolicy;
  clock: Clock;
  log: Logger;
}

export interface SweepOutcome {
  checked: number;
  stopped: Array<{ taskArn: string; sandboxId: string; reason: string }>;
  /** Tasks that could not be stopped this time (the next sweep tries again). */
  failed: number;
}

/** A task whose run never shows up is stopped after this. */
const GRACE_MS = 10 * 60_000;
/** The container stops itself at its lifetime; the sweeper is the backstop just after it. */
const CAP_SLACK_MS = 15 * 60_000;

export async function sweepSandboxes(deps: SweeperDeps): Promise<SweepOutcome> {
  const tasks = await listSandboxTasks(deps.ecs, deps.cluster);
  const runs = new Map<string, RunStatus | undefined>();
  for (const sandboxId of new Set(tasks.map((task) => task.sandboxId)))
    runs.set(sandboxId, (await deps.runs.getRun(sandboxId))?.status);
  const decisions = sandboxesToStop(tasks, runs, deps.clock.now(), deps.policy);
  const stopped: SweepOutcome['stopped'] = [];
  let failed = 0;
  for (const decision of decisions) {
    try {
      await stopSandboxTask(deps.ecs, deps.cluster, decision.taskArn, `looprail sweeper: ${decision.reason}`);
      stopped.push({ taskArn: decision.taskArn, sandboxId: decision.sandboxId, reason: decision.reason });
      deps.log.info('stopped a sandbox task', {
        taskArn: decision.taskArn,
        sandboxId: decision.sandboxId,
        reason: decision.reason,
      });
    } catch (error) {
      failed += 1;
      deps.log.warn('could not stop a sandbox task', {
        taskArn: decision.taskArn,
        sandboxId: decision.sandboxId,
        error: errorMessage(error),
      });
    }
  }
  return { checked: tasks.length, stopped, failed };
}

export function sweeperDepsFromEnv(env: Record<string, string | undefined>): SweeperDeps {
  const e = SandboxSweeperEnv.parse(env);
  return {
    ecs: new ECSClient({}),
    cluster: e[ENV_SANDBOX_CLUSTER],
    runs: new DynamoRunStore({ client: new DynamoDBClient({}), tableName: e.LOOPRAIL_TABLE_NAME }),
    policy: { maxAgeMs: e[ENV_AGENT_MAX_SECONDS] * 1000 + CAP_SLACK_MS, graceMs: GRACE_MS },
    clock: systemClock,
    log: jsonLogger(e.LOOPRAIL_LOG_LEVEL),
  };
}

let deps: SweeperDeps | undefined;

export async function handler(): Promise<SweepOutcome> {
  deps ??= sweeperDepsFromEnv(process.env);
  return sweepSandboxes(deps);
}
