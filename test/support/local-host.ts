import type { ExecutionStarter } from '../../core/ports/executions.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { startLocalHost, type LocalHost, type LocalHostOptions } from '../../cli/local/host.ts';

/**
 * A local host on the test run's DynamoDB Local, with its own table and state folder:
 * the same ASL, handlers, store and MCP client as `looprail run`.
 */
export async function testHost(
  orgDir: string,
  options: Partial<LocalHostOptions> = {},
): Promise<LocalHost & { stateDir: string }> {
  const stateDir = await mkdtemp(join(tmpdir(), 'looprail-test-'));
  const host = await startLocalHost({
    projectRoot: process.cwd(),
    orgDir,
    stateDir,
    dynamodbEndpoint: inject('dynamodbEndpoint'),
    tableName: `looprail-e2e-${randomUUID()}`,
    retryIntervalMs: 0,
    ...options,
  });
  return {
    ...host,
    stateDir,
    async close() {
      await host.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** Runs an agent to its end and reads back what the tests look at: the run, its trace and its conversation. */
export async function runToEnd(host: LocalHost, agent: string, input: unknown = {}) {
  const result = await host.run({ agent, input });
  const trace = await host.deps.store.listTrace(result.runId);
  const state = await host.deps.store.loadState(result.runId);
  return { ...result, trace, messages: state!.messages };
}

/**
 * An ExecutionStarter that runs executions in the background, as Step Functions would,
 * and remembers every start (tests count them) and each run's execution (tests await it).
 */
export function recordingStarter(host: LocalHost) {
  const executions = new Map<string, Promise<unknown>>();
  const starts: string[] = [];
  const starter: ExecutionStarter = {
    async start(runId) {
      starts.push(runId);
      if (!executions.has(runId)) executions.set(runId, host.executor.run({ runId }));
    },
    async stop() {},
  };
  return { starter, executions, starts };
}
