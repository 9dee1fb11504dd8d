import { agentEntry } from '../../../core/definitions/catalog.ts';
import { isDeepStrictEqual } from 'node:util';
import { RunStatus, StopReason, TriggerInfo, type RunMeta } from '../../../core/definitions/run.ts';
import { TraceEvent } from '../../../core/definitions/trace.ts';
import * as z from '../../../core/definitions/zod.ts';
import { NotFoundError, ValidationError } from '../../../core/errors.ts';
import { MAX_SEQ_PAGE } from '../../../core/ports/run-store.ts';
import { failRunStep } from '../../../core/run/finish-run.ts';
import { lastAnswer } from '../../../core/run/notify.ts';
import { startRun } from '../../../core/run/trigger.ts';
import { HttpError, json, parseBody, parseQuery, ProblemBody } from '../router.ts';
import type { HttpRequest, HttpResponse } from '../types.ts';
import { decodeCursor, nextCursor, PageCursor, PageLimit } from './cursor.ts';
import { principalOf, type ApiDeps, type Operation } from './operation.ts';

/** Runs: start one (the same start path as every trigger), list them, read one and its trace, cancel one. */

// Request schemas.

/**
 * A Step Functions execution name allows 80 characters; the key is hashed into the run id,
 * so only its length matters.
 */
const IdempotencyKey = z
  .string()
  .check(
    z.trim(),
    z.minLength(1),
    z.maxLength(255),
    z.meta({ description: 'the same key (for the same agent) never starts a second run' }),
  );

export const StartRunBody = z.strictObject({
  agent: z.string().check(z.minLength(1), z.maxLength(128), z.meta({ description: 'the agent name' })),
  input: z
    .optional(z.unknown())
    .check(z.meta({ description: "the run input; checked against the agent's input_schema" })),
  idempotencyKey: z.optional(IdempotencyKey),
});
export type StartRunBody = z.infer<typeof StartRunBody>;

export const ListRunsQuery = z.strictObject({
  agent: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
  status: z.optional(RunStatus),
  limit: PageLimit,
  cursor: z.optional(PageCursor),
});
export type ListRunsQuery = z.input<typeof ListRunsQuery>;

export const TraceQuery = z.strictObject({
  limit: z
    ._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(MAX_SEQ_PAGE)), MAX_SEQ_PAGE)
    .check(z.meta({ description: 'trace events per page' })),
  after: z
    .optional(z.coerce.number().check(z.int(), z.minimum(0)))
    .check(z.meta({ description: 'nextAfter from the previous page: events after this seq' })),
});
export type TraceQuery = z.input<typeof TraceQuery>;

// Response schemas.

const Usage = z.object({
  inputTokens: z.number().check(z.int()),
  outputTokens: z.number().check(z.int()),
  cachedInputTokens: z.number().check(z.int()),
  costMicros: z.number().check(z.int(), z.meta({ description: 'millionths of a USD' })),
});

export const RunSummary = z.object({
  runId: z.string(),
  agent: z.string(),
  agentVersion: z.optional(z.string()),
  owner: z.optional(z.string()),
  team: z.optional(z.string()),
  status: RunStatus,
  stopReason: z.optional(StopReason),
  stopDetail: z.optional(z.string()),
  principal: z.string(),
  trigger: TriggerInfo,
  createdAt: z.string(),
  startedAt: z.optional(z.string()),
  endedAt: z.optional(z.string()),
  modelCalls: z.number().check(z.int()),
  toolCalls: z.number().check(z.int()),
  verifyAttempts: z.number().check(z.int()),
  usage: Usage.check(z.meta({ description: "the maker's own model usage" })),
  checkerUsage: Usage.check(z.meta({ description: 'checker runs, shown apart' })),
  pendingApprovalId: z.optional(z.string()),
});
export type RunSummary = z.infer<typeof RunSummary>;

export const RunDetail = z.extend(RunSummary, {
  input: z.unknown(),
  answer: z
    .optional(z.string())
    .check(z.meta({ description: "the maker's final answer (its last text), once it has one" })),
});
export type RunDetail = z.infer<typeof RunDetail>;

export const RunPage = z.object({ runs: z.array(RunSummary), nextCursor: z.optional(z.string()) });
export type RunPage = z.infer<typeof RunPage>;

export const RunTrace = z.object({
  runId: z.string(),
  events: z.array(TraceEvent),
  nextAfter: z
    .optional(z.number().check(z.int()))
    .check(z.meta({ description: 'there are more events: pass this as `after` for the next page' })),
  checkers: z
    .array(z.object({ runId: z.string(), events: z.array(TraceEvent) }))
    .check(z.meta({ description: "the checker runs' own traces, in the order the run started them" })),
});
export type RunTrace = z.infer<typeof RunTrace>;

export function runSummary(meta: RunMeta): RunSummary {
  return {
    runId: meta.runId,
    agent: meta.agent,
    agentVersion: meta.agentVersion,
    owner: meta.owner,
    team: meta.team,
    status: meta.status,
    stopReason: meta.stopReason,
    stopDetail: meta.stopDetail,
    principal: meta.principal,
    trigger: meta.trigger,
    createdAt: meta.createdAt,
    startedAt: meta.startedAt,
    endedAt: meta.endedAt,
    modelCalls: meta.modelCalls,
    toolCalls: meta.toolCalls,
    verifyAttempts: meta.verifyAttempts,
    usage: meta.usage,
    checkerUsage: meta.checkerUsage,
    pendingApprovalId: meta.pendingApprovalId,
  };
}

async function existingRun(deps: Pick<ApiDeps, 'store'>, runId: string): Promise<RunMeta> {
  const meta = await deps.store.getRun(runId);
  if (!meta) throw new NotFoundError(`run ${runId} does not exist`);
  return meta;
}

/** The key may come as the `Idempotency-Key` header or in the body; both must agree. */
function idempotencyKeyOf(request: HttpRequest, body: StartRunBody): string | undefined {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return body.idempotencyKey;
  const parsed = IdempotencyKey.safeParse(header);
  if (!parsed.success) {
    const message = 'the Idempotency-Key header must be 1 to 255 characters';
    throw new HttpError(400, 'invalid_request', message, { field: 'Idempotency-Key' });
  }
  if (body.idempotencyKey !== undefined && body.idempotencyKey !== parsed.data) {
    const message = "the Idempotency-Key header and the body's idempotencyKey differ";
    throw new HttpError(400, 'invalid_request', message, { field: 'idempotencyKey' });
  }
  return parsed.data;
}

async function start(deps: ApiDeps, request: HttpRequest): Promise<HttpResponse> {
  const body = parseBody(request, StartRunBody);
  const idempotencyKey = idempotencyKeyOf(request, body);
  const input = body.input ?? {};
  const entry = agentEntry(await deps.catalog(), body.agent);
  if (entry && !entry.spec.enabled) {
    const message = `agent "${body.agent}" is paused (enabled: false): it starts no runs`;
    throw new HttpError(409, 'agent_paused', message, { field: 'agent' });
  }
  let started: Awaited<ReturnType<typeof startRun>>;
  try {
    const trigger = { kind: 'api' } as const;
    const principal = principalOf(request);
    started = await startRun(deps, { agent: body.agent, input, principal, trigger, dedupeKey: idempotencyKey });
  } catch (error) {
    // The agent was checked above: what the start path refuses now is the input.
    if (error instanceof ValidationError)
      throw new HttpError(400, 'invalid_input', error.message, { field: 'input', cause: error });
    throw error;
  }
  if (!started.created && !isDeepStrictEqual(started.meta.input, input)) {
    const message = `idempotency key "${idempotencyKey}" already started run ${started.runId} with a different input`;
    throw new HttpError(409, 'idempotency_key_reused', message, { field: 'idempotencyKey' });
  }
  // Read again: the execution may have moved the run on since it was recorded.
  const meta = (await deps.store.getRun(started.runId)) ?? started.meta;
  const location = `/v1/runs/${encodeURIComponent(started.runId)}`;
  return json(started.created ? 201 : 200, runSummary(meta), { location });
}

async function list(deps: Pick<ApiDeps, 'store'>, request: HttpRequest): Promise<HttpResponse> {
  const query = parseQuery(request, ListRunsQuery);
  const cursor = decodeCursor(query.cursor);
  const runs = await deps.store.listRuns({
    agent: query.agent,
    status: query.status,
    role: 'maker',
    limit: query.limit,
    cursor,
  });
  const page: RunPage = { runs: runs.map(runSummary), nextCursor: nextCursor(runs, query.limit) };
  return json(200, page);
}

async function detail(deps: Pick<ApiDeps, 'store'>, runId: string): Promise<HttpResponse> {
  const meta = await existingRun(deps, runId);
  const answer = lastAnswer((await deps.store.loadState(meta.runId, { lastMessages: 8 }))?.messages ?? [], 20_000);
  const detail: RunDetail = { ...runSummary(meta), input: meta.input, ...(answer ? { answer } : {}) };
  return json(200, detail);
}

async function trace(deps: Pick<ApiDeps, 'store'>, request: HttpRequest, runId: string): Promise<HttpResponse> {
  const query = parseQuery(request, TraceQuery);
  const meta = await existingRun(deps, runId);
  const { events, nextAfterSeq } = await deps.store.listTracePage(meta.runId, {
    afterSeq: query.after,
    limit: query.limit,
  });
  const childIds = [...new Set(events.flatMap((event) => (event.childRunId ? [event.childRunId] : [])))];
  const checkers = await Promise.all(
    childIds.map(async (childId) => ({ runId: childId, events: await deps.store.listTrace(childId) })),
  );
  const more = nextAfterSeq === undefined ? {} : { nextAfter: nextAfterSeq };
  const trace: RunTrace = { runId: meta.runId, events, ...more, checkers };
  return json(200, trace);
}

async function cancel(deps: ApiDeps, request: HttpRequest, runId: string): Promise<HttpResponse> {
  const meta = await existingRun(deps, runId);
  if (meta.status === 'finished' || meta.status === 'failed') {
    throw new HttpError(409, 'run_ended', `run ${meta.runId} has already ended (${meta.stopReason ?? meta.status})`);
  }
  const reason = `cancelled by ${principalOf(request)} through the API`;
  await deps.executions.stop(meta.runId, reason, meta.seq);
  // A queued run has no execution yet (its start failed): nothing else would close it.
  if (meta.status === 'queued') {
    await failRunStep(deps, { runId: meta.runId, error: { Error: 'looprail.ExecutionABORTED', Cause: reason } });
  }
  return json(202, runSummary(await existingRun(deps, meta.runId)));
}

export function runOperations(deps: ApiDeps): Operation[] {
  return [
    {
      method: 'POST',
      path: '/v1/runs',
      operationId: 'startRun',
      summary:
        'Start a run (the same start path as every trigger); an idempotency key returns the run it started before',
      body: StartRunBody,
      responses: {
        201: { description: 'the run was created and its execution started', schema: RunSummary },
        200: {
          description: 'a run with this idempotency key exists: it is returned, nothing new is started',
          schema: RunSummary,
        },
        409: {
          description: 'the agent is paused, or the idempotency key was used with a different input',
          schema: ProblemBody,
        },
      },
      handle: (request) => start(deps, request),
    },
    {
      method: 'GET',
      path: '/v1/runs',
      operationId: 'listRuns',
      summary: "List runs, newest first (maker runs; checker runs are in their parent's trace)",
      query: ListRunsQuery,
      responses: {
        200: { description: 'one page of runs; nextCursor is there when the page is full', schema: RunPage },
      },
      handle: (request) => list(deps, request),
    },
    {
      method: 'GET',
      path: '/v1/runs/:runId',
      operationId: 'getRun',
      summary: 'A run: status, stop reason, totals, trigger, principal and input',
      responses: { 200: { description: 'the run', schema: RunDetail } },
      handle: (_request, params) => detail(deps, params.runId!),
    },
    {
      method: 'GET',
      path: '/v1/runs/:runId/trace',
      operationId: 'getTrace',
      summary: "A page of a run's trace events, with the traces of the checker runs that page started",
      query: TraceQuery,
      responses: { 200: { description: 'the trace', schema: RunTrace } },
      handle: (request, params) => trace(deps, request, params.runId!),
    },
    {
      method: 'POST',
      path: '/v1/runs/:runId/cancel',
      operationId: 'cancelRun',
      summary: "Stop a run's execution; the run ends `cancelled`",
      responses: {
        202: {
          description:
            'the execution was stopped; the run is closed `cancelled` (at once locally, moments later on AWS)',
          schema: RunSummary,
        },
        409: { description: 'the run has already ended', schema: ProblemBody },
      },
      handle: (request, params) => cancel(deps, request, params.runId!),
    },
  ];
}
