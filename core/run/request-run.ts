import { agentEntry } from '../definitions/catalog.ts';
import { ZERO_USAGE, type RunMeta, type TriggerInfo } from '../definitions/run.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { assertJsonShape, RUN_INPUT_LIMITS } from '../limits/json-shape.ts';
import { schemaProblems } from '../policy/tool-arguments.ts';
import type { RunRecordStore } from '../ports/store/runs.ts';
import type { RunDeps } from './deps.ts';
import { runIdFor } from './ids.ts';

// A trigger records the run; the StartRun step (start-run.ts) starts it. Apart, so the HTTP
// app and the trigger functions do not carry the step's tool discovery and prompt assembly.

/** Inputs are stored on the run record; keep them to what a trigger should pass. */
export const MAX_INPUT_BYTES = RUN_INPUT_LIMITS.maxBytes;

export interface RunRequest {
  agent: string;
  input: unknown;
  principal: string;
  trigger: TriggerInfo;
  /** Same key, same run: a repeated trigger never starts a second run. */
  dedupeKey?: string;
}

/**
 * Every trigger's first call: checks the agent, records the run as queued and returns
 * its id, which the host uses as the execution name (input `{ runId }`).
 */
export async function requestRun(
  deps: Pick<RunDeps, 'catalog' | 'ids' | 'clock'> & { store: RunRecordStore },
  request: RunRequest,
): Promise<{ runId: string; created: boolean; meta: RunMeta }> {
  const catalog = await deps.catalog();
  const entry = agentEntry(catalog, request.agent);
  if (!entry)
    throw new NotFoundError(
      `unknown agent "${request.agent}" (known: ${Object.keys(catalog.agents).sort().join(', ') || 'none'})`,
    );
  if (!entry.spec.enabled) throw new ValidationError(`agent "${request.agent}" is paused (enabled: false)`);
  // Before anything recurses over it (the schema check, the record's clone, the task message): the shape.
  assertJsonShape(request.input ?? null, RUN_INPUT_LIMITS, 'input');
  const schema = entry.spec.input_schema;
  const problems = schema ? schemaProblems(schema, request.input ?? {}, 'input') : null;
  if (problems)
    throw new ValidationError(`the input does not match agent "${request.agent}"'s input_schema: ${problems}`);
  const runId = request.dedupeKey ? runIdFor(request.agent, request.dedupeKey) : deps.ids.newId('r');
  const meta = newRunMeta({
    runId,
    agent: request.agent,
    team: entry.spec.team,
    owner: entry.spec.owner,
    principal: request.principal,
    trigger: request.trigger,
    input: request.input ?? {},
    dedupeKey: request.dedupeKey,
    createdAt: deps.clock.now().toISOString(),
  });
  const maxConcurrent = catalog.budgets.limits.find((limit) => limit.agent === request.agent)?.max_concurrent_runs;
  const stored = await deps.store.createRun(meta, { concurrencyLimit: maxConcurrent });
  return { runId, ...stored };
}

export function newRunMeta(
  fields: Pick<RunMeta, 'runId' | 'agent' | 'principal' | 'trigger' | 'input' | 'createdAt'> & Partial<RunMeta>,
): RunMeta {
  return {
    role: 'maker',
    status: 'queued',
    seq: 0,
    messageCount: 0,
    traceCount: 0,
    modelCalls: 0,
    toolCalls: 0,
    verifyAttempts: 0,
    usage: { ...ZERO_USAGE },
    checkerUsage: { ...ZERO_USAGE },
    ...fields,
  };
}
