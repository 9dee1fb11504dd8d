import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { RunStatus, StopReason, TriggerInfo, type RunMeta } from '../../core/definitions/run.ts';
import { TraceEvent } from '../../core/definitions/trace.ts';
import { NotFoundError, ValidationError } from '../../core/errors.ts';
import { buildInventory } from '../../core/policy/inventory.ts';
import { MAX_SEQ_PAGE, type RunCursor } from '../../core/ports/run-store.ts';
import { failRunStep } from '../../core/run/finish-run.ts';
import { startRun, type TriggerDeps } from '../../core/run/trigger.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import { handleWebhook } from './webhooks.ts';
import { registerApprovalRoutes } from './approval-pages.ts';
import { registerConsole } from './console/index.ts';
import { totalsByKey } from '../../core/budgets/totals.ts';
import { HttpError, json, parseBody, parseQuery, ProblemBody, Router } from './router.ts';
import type { HttpRequest, HttpResponse } from './types.ts';

/**
 * The REST API under `/v1`: thin handlers over the core. Every trigger's start path
 * (`startRun`) and the run store do the work; this module validates what comes in (zod),
 * shapes what goes out (zod schemas too, so `/openapi.json` is generated from the very
 * schemas the handlers use) and maps the core's errors to HTTP answers.
 *
 * Authentication is the host's: API Gateway's IAM authorizer on AWS, a bearer token on
 * the local server. Handlers read `request.principal` and record it on what they start.
 */

export type ApiDeps = TriggerDeps & {
  /** Webhook signing secrets are read by name at the edge that verifies them. */
  secrets?: SecretStore;
};

// Request schemas.

/** A Step Functions execution name allows 80 characters; the key is hashed into the run id, so only its length matters. */
const IdempotencyKey = z.string().trim().min(1).max(255).meta({ description: 'the same key (for the same agent) never starts a second run' });

export const StartRunBody = z.strictObject({
  agent: z.string().min(1).max(128).meta({ description: 'the agent name' }),
  input: z.unknown().optional().meta({ description: "the run input; checked against the agent's input_schema" }),
  idempotencyKey: IdempotencyKey.optional(),
});
export type StartRunBody = z.infer<typeof StartRunBody>;

const Limit = z.coerce.number().int().min(1).max(100).default(20);
const Cursor = z.string().min(1).max(512).meta({ description: 'nextCursor from the previous page' });

export const ListRunsQuery = z.strictObject({
  agent: z.string().min(1).max(128).optional(),
  status: RunStatus.optional(),
  limit: Limit,
  cursor: Cursor.optional(),
});
export type ListRunsQuery = z.input<typeof ListRunsQuery>;

export const ListApprovalsQuery = z.strictObject({
  status: z.literal('pending').default('pending').meta({ description: 'only pending approvals are listed' }),
  agent: z.string().min(1).max(128).optional(),
  limit: Limit,
  cursor: Cursor.optional(),
});
export type ListApprovalsQuery = z.input<typeof ListApprovalsQuery>;

// Response schemas.

const Usage = z.object({
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  cachedInputTokens: z.number().int(),
  costMicros: z.number().int().meta({ description: 'millionths of a USD' }),
});

export const RunSummary = z.object({
  runId: z.string(),
  agent: z.string(),
  agentVersion: z.string().optional(),
  owner: z.string().optional(),
  team: z.string().optional(),
  status: RunStatus,
  stopReason: StopReason.optional(),
  stopDetail: z.string().optional(),
  principal: z.string(),
  trigger: TriggerInfo,
  createdAt: z.string(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  modelCalls: z.number().int(),
  toolCalls: z.number().int(),
  verifyAttempts: z.number().int(),
  usage: Usage.meta({ description: "the maker's own model usage" }),
  checkerUsage: Usage.meta({ description: 'checker runs, shown apart' }),
  pendingApprovalId: z.string().optional(),
});
export type RunSummary = z.infer<typeof RunSummary>;

export const RunDetail = RunSummary.extend({ input: z.unknown() });
export type RunDetail = z.infer<typeof RunDetail>;

export const RunPage = z.object({ runs: z.array(RunSummary), nextCursor: z.string().optional() });
export type RunPage = z.infer<typeof RunPage>;

export const TraceQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_SEQ_PAGE).default(MAX_SEQ_PAGE).meta({ description: 'trace events per page' }),
  after: z.coerce.number().int().min(0).optional().meta({ description: 'nextAfter from the previous page: events after this seq' }),
});
export type TraceQuery = z.input<typeof TraceQuery>;

export const RunTrace = z.object({
  runId: z.string(),
  events: z.array(TraceEvent),
  nextAfter: z.number().int().optional().meta({ description: 'there are more events: pass this as `after` for the next page' }),
  checkers: z.array(z.object({ runId: z.string(), events: z.array(TraceEvent) })).meta({ description: "the checker runs' own traces, in the order the run started them" }),
});
export type RunTrace = z.infer<typeof RunTrace>;

export const ApprovalSummary = z.object({
  approvalId: z.string(),
  runId: z.string(),
  agent: z.string(),
  status: z.literal('pending'),
  tools: z.array(z.string()),
  reasons: z.array(z.string()),
  approvers: z.array(z.string()),
  createdAt: z.string(),
  expiresAt: z.string(),
});
export type ApprovalSummary = z.infer<typeof ApprovalSummary>;

export const ApprovalPage = z.object({ approvals: z.array(ApprovalSummary), nextCursor: z.string().optional() });
export type ApprovalPage = z.infer<typeof ApprovalPage>;

const InventoryTool = z.looseObject({ tool: z.string(), readOnly: z.boolean(), destructive: z.boolean(), approval: z.array(z.string()).optional() });
/** The inventory's shape is core/policy/inventory.ts's; the main fields are listed here. */
export const Inventory = z.object({
  agents: z.array(
    z.looseObject({
      agent: z.string(),
      owner: z.string().optional(),
      team: z.string().optional(),
      enabled: z.boolean(),
      model: z.string(),
      provider: z.string(),
      tools: z.array(InventoryTool),
      approvalRules: z.array(z.string()),
      budgets: z.array(z.string()),
    }),
  ),
});
export type Inventory = { agents: ReturnType<typeof buildInventory> };

export const AgentList = z.object({
  agents: z.array(z.object({ name: z.string(), enabled: z.boolean(), owner: z.string().optional(), team: z.string().optional(), description: z.string().optional() })),
});
export type AgentList = z.infer<typeof AgentList>;

// Operations: each route with what /openapi.json says about it.

interface Operation {
  method: 'GET' | 'POST';
  /** Router pattern, `:name` for path parameters. */
  path: string;
  operationId: string;
  summary: string;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Status → description and body schema (problems are added to every operation). */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  handle(request: HttpRequest, params: Record<string, string>): Promise<HttpResponse>;
}

export function createApi(deps: ApiDeps): Router {
  const router = new Router({ log: deps.log });
  const operations = apiOperations(deps);
  for (const operation of operations) router.add(operation.method, operation.path, operation.handle);
  const document = openApiDocument(operations);
  router.get('/openapi.json', async () => json(200, document));
  // The web console: HTML pages over the same store, behind the same authentication as /v1.
  registerConsole(router, deps);
  // Outside /v1: a webhook proves itself by its signature, not by the API's credentials.
  // Outside /v1 too: approval pages prove the approver by a signed, per-recipient link (plus the operator's /v1 decision).
  registerApprovalRoutes(router, deps);
  router.post('/webhooks/:agent', async (request, params) => {
    if (!deps.secrets) throw new HttpError(503, 'webhooks_unavailable', 'webhooks need a secret store, and none is configured');
    return handleWebhook(deps, params.agent!, request, { secrets: deps.secrets });
  });
  return router;
}

const CostsQuery = z.object({
  by: z.enum(['agent', 'team', 'model', 'user']).default('agent'),
  days: z.coerce.number().int().min(1).max(366).default(7),
});
const CostsPage = z.object({
  by: z.string(),
  from: z.string(),
  to: z.string(),
  lines: z.array(z.object({ key: z.string(), costMicros: z.number(), checkerCostMicros: z.number(), inputTokens: z.number(), outputTokens: z.number(), calls: z.number() })),
});

function apiOperations(deps: ApiDeps): Operation[] {
  const getRun = async (runId: string): Promise<RunMeta> => {
    const meta = await deps.store.getRun(runId);
    if (!meta) throw new NotFoundError(`run ${runId} does not exist`);
    return meta;
  };

  return [
    {
      method: 'POST',
      path: '/v1/runs',
      operationId: 'startRun',
      summary: 'Start a run (the same start path as every trigger); an idempotency key returns the run it started before',
      body: StartRunBody,
      responses: {
        201: { description: 'the run was created and its execution started', schema: RunSummary },
        200: { description: 'a run with this idempotency key exists: it is returned, nothing new is started', schema: RunSummary },
        409: { description: 'the agent is paused, or the idempotency key was used with a different input', schema: ProblemBody },
      },
      async handle(request) {
        const body = parseBody(request, StartRunBody);
        const idempotencyKey = idempotencyKeyOf(request, body);
        const input = body.input ?? {};
        const entry = (await deps.catalog()).agents[body.agent];
        if (entry && !entry.spec.enabled) throw new HttpError(409, 'agent_paused', `agent "${body.agent}" is paused (enabled: false): it starts no runs`, { field: 'agent' });
        let started: Awaited<ReturnType<typeof startRun>>;
        try {
          started = await startRun(deps, { agent: body.agent, input, principal: principalOf(request), trigger: { kind: 'api' }, dedupeKey: idempotencyKey });
        } catch (error) {
          // The agent was checked above: what the start path refuses now is the input.
          if (error instanceof ValidationError) throw new HttpError(400, 'invalid_input', error.message, { field: 'input', cause: error });
          throw error;
        }
        if (!started.created && !isDeepStrictEqual(started.meta.input, input)) {
          throw new HttpError(409, 'idempotency_key_reused', `idempotency key "${idempotencyKey}" already started run ${started.runId} with a different input`, { field: 'idempotencyKey' });
        }
        // Read again: the execution may have moved the run on since it was recorded.
        const meta = (await deps.store.getRun(started.runId)) ?? started.meta;
        return json(started.created ? 201 : 200, runSummary(meta), { location: `/v1/runs/${encodeURIComponent(started.runId)}` });
      },
    },
    {
      method: 'GET',
      path: '/v1/costs',
      operationId: 'costs',
      summary: 'Spend per agent, team, model or user over the last days, from the daily rollups (the same numbers as `looprail costs`)',
      query: CostsQuery,
      responses: { 200: { description: 'totals per key, most expensive first', schema: CostsPage } },
      async handle(request) {
        const query = parseQuery(request, CostsQuery);
        const now = deps.clock.now();
        const from = new Date(now.getTime() - (query.days - 1) * 86_400_000).toISOString().slice(0, 10);
        const to = now.toISOString().slice(0, 10);
        return json(200, { by: query.by, from, to, lines: totalsByKey(await deps.store.listRollups(query.by, from, to)) });
      },
    },
    {
      method: 'GET',
      path: '/v1/runs',
      operationId: 'listRuns',
      summary: 'List runs, newest first (maker runs; checker runs are in their parent\'s trace)',
      query: ListRunsQuery,
      responses: { 200: { description: 'one page of runs; nextCursor is there when the page is full', schema: RunPage } },
      async handle(request) {
        const query = parseQuery(request, ListRunsQuery);
        const runs = await deps.store.listRuns({ agent: query.agent, status: query.status, role: 'maker', limit: query.limit, cursor: decodeCursor(query.cursor) });
        const page: RunPage = { runs: runs.map(runSummary), nextCursor: nextCursor(runs, query.limit) };
        return json(200, page);
      },
    },
    {
      method: 'GET',
      path: '/v1/runs/:runId',
      operationId: 'getRun',
      summary: 'A run: status, stop reason, totals, trigger, principal and input',
      responses: { 200: { description: 'the run', schema: RunDetail } },
      async handle(_request, params) {
        const meta = await getRun(params.runId!);
        const detail: RunDetail = { ...runSummary(meta), input: meta.input };
        return json(200, detail);
      },
    },
    {
      method: 'GET',
      path: '/v1/runs/:runId/trace',
      operationId: 'getTrace',
      summary: "A page of a run's trace events, with the traces of the checker runs that page started",
      query: TraceQuery,
      responses: { 200: { description: 'the trace', schema: RunTrace } },
      async handle(request, params) {
        const query = parseQuery(request, TraceQuery);
        const meta = await getRun(params.runId!);
        const { events, nextAfterSeq } = await deps.store.listTracePage(meta.runId, { afterSeq: query.after, limit: query.limit });
        const childIds = [...new Set(events.flatMap((event) => (event.childRunId ? [event.childRunId] : [])))];
        const checkers = await Promise.all(childIds.map(async (runId) => ({ runId, events: await deps.store.listTrace(runId) })));
        const trace: RunTrace = { runId: meta.runId, events, ...(nextAfterSeq === undefined ? {} : { nextAfter: nextAfterSeq }), checkers };
        return json(200, trace);
      },
    },
    {
      method: 'POST',
      path: '/v1/runs/:runId/cancel',
      operationId: 'cancelRun',
      summary: "Stop a run's execution; the run ends `cancelled`",
      responses: {
        202: { description: 'the execution was stopped; the run is closed `cancelled` (at once locally, moments later on AWS)', schema: RunSummary },
        409: { description: 'the run has already ended', schema: ProblemBody },
      },
      async handle(request, params) {
        const meta = await getRun(params.runId!);
        if (meta.status === 'finished' || meta.status === 'failed') {
          throw new HttpError(409, 'run_ended', `run ${meta.runId} has already ended (${meta.stopReason ?? meta.status})`);
        }
        const reason = `cancelled by ${principalOf(request)} through the API`;
        await deps.executions.stop(meta.runId, reason, meta.seq);
        // A queued run has no execution yet (its start failed): nothing else would close it.
        if (meta.status === 'queued') await failRunStep(deps, { runId: meta.runId, error: { Error: 'looprail.ExecutionABORTED', Cause: reason } });
        return json(202, runSummary(await getRun(meta.runId)));
      },
    },
    {
      method: 'GET',
      path: '/v1/approvals',
      operationId: 'listApprovals',
      summary: 'Approvals waiting for a human, newest run first (task tokens never leave the server)',
      query: ListApprovalsQuery,
      responses: { 200: { description: 'one page of pending approvals', schema: ApprovalPage } },
      async handle(request) {
        const query = parseQuery(request, ListApprovalsQuery);
        // A run waits on at most one approval, and its record says which: paused runs are the index.
        const paused = await deps.store.listRuns({ agent: query.agent, status: 'paused', limit: query.limit, cursor: decodeCursor(query.cursor) });
        const approvals: ApprovalSummary[] = [];
        for (const run of paused) {
          if (!run.pendingApprovalId) continue;
          const record = await deps.store.getApproval(run.pendingApprovalId);
          if (!record || record.status !== 'pending') continue;
          approvals.push({
            approvalId: record.approvalId,
            runId: record.runId,
            agent: run.agent,
            status: 'pending',
            tools: record.tools,
            reasons: record.reasons,
            approvers: record.approvers,
            createdAt: record.createdAt,
            expiresAt: record.expiresAt,
          });
        }
        const page: ApprovalPage = { approvals, nextCursor: nextCursor(paused, query.limit) };
        return json(200, page);
      },
    },
    {
      method: 'GET',
      path: '/v1/inventory',
      operationId: 'inventory',
      summary: 'Every agent: owner, triggers, model, what it can touch (with flags), approvals, budgets, sub-agents',
      responses: { 200: { description: 'the inventory', schema: Inventory } },
      async handle() {
        const inventory: Inventory = { agents: buildInventory(await deps.catalog()) };
        return json(200, inventory);
      },
    },
    {
      method: 'GET',
      path: '/v1/agents',
      operationId: 'listAgents',
      summary: 'The declared agents: name, enabled, owner',
      responses: { 200: { description: 'the agents, by name', schema: AgentList } },
      async handle() {
        const catalog = await deps.catalog();
        const agents: AgentList['agents'] = Object.values(catalog.agents)
          .map(({ spec }) => ({ name: spec.name, enabled: spec.enabled, owner: spec.owner, team: spec.team, description: spec.description }))
          .sort((a, b) => a.name.localeCompare(b.name));
        return json(200, { agents } satisfies AgentList);
      },
    },
  ];
}

// Helpers.

function principalOf(request: HttpRequest): string {
  // The host authenticates before the app runs; a request without a principal is a wiring bug.
  if (!request.principal) throw new HttpError(401, 'unauthenticated', 'this endpoint needs an authenticated caller');
  return request.principal;
}

/** The key may come as the `Idempotency-Key` header or in the body; both must agree. */
function idempotencyKeyOf(request: HttpRequest, body: StartRunBody): string | undefined {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return body.idempotencyKey;
  const parsed = IdempotencyKey.safeParse(header);
  if (!parsed.success) throw new HttpError(400, 'invalid_request', `the Idempotency-Key header must be 1 to 255 characters`, { field: 'Idempotency-Key' });
  if (body.idempotencyKey !== undefined && body.idempotencyKey !== parsed.data) {
    throw new HttpError(400, 'invalid_request', 'the Idempotency-Key header and the body\'s idempotencyKey differ', { field: 'idempotencyKey' });
  }
  return parsed.data;
}

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

// Cursors: the last run of a page, opaque to callers.

const CursorFields = z.tuple([z.string().min(1), z.string().min(1)]);

export function encodeCursor(run: RunCursor): string {
  return Buffer.from(JSON.stringify([run.createdAt, run.runId]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): RunCursor | undefined {
  if (cursor === undefined) return undefined;
  try {
    const [createdAt, runId] = CursorFields.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    return { createdAt, runId };
  } catch {
    throw new HttpError(400, 'invalid_request', 'cursor is not one this API returned (pass nextCursor from the previous page)', { field: 'cursor' });
  }
}

/** A full page may have more after it; a short one is the last. */
export function nextCursor(runs: RunMeta[], limit: number): string | undefined {
  const last = runs.at(-1);
  return last && runs.length >= limit ? encodeCursor(last) : undefined;
}

// OpenAPI 3.1, from the operations' own schemas.

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function openApiPath(pattern: string): string {
  return pattern.replace(/:(\w+)/g, '{$1}');
}

const PROBLEM_RESPONSES: Record<number, string> = {
  400: 'the request is invalid: `error.field` names what to fix',
  401: 'no valid credentials',
  404: 'the run or agent does not exist',
  500: 'the server failed; the message carries a request id for the logs',
};

export function openApiDocument(operations: Operation[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const problem = jsonSchema(ProblemBody, 'output');
  for (const operation of operations) {
    const pathParameters = [...operation.path.matchAll(/:(\w+)/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
    const querySchema = operation.query ? jsonSchema(operation.query, 'input') : undefined;
    const queryProperties = (querySchema?.properties ?? {}) as Record<string, Record<string, unknown>>;
    const queryParameters = Object.entries(queryProperties).map(([name, schema]) => ({ name, in: 'query', required: false, schema }));
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(operation.responses)) {
      responses[status] = response.schema ? { description: response.description, content: { 'application/json': { schema: jsonSchema(response.schema, 'output') } } } : { description: response.description };
    }
    for (const [status, description] of Object.entries(PROBLEM_RESPONSES)) {
      responses[status] ??= { description, content: { 'application/json': { schema: problem } } };
    }
    (paths[openApiPath(operation.path)] ??= {})[operation.method.toLowerCase()] = {
      operationId: operation.operationId,
      summary: operation.summary,
      parameters: [...pathParameters, ...queryParameters],
      ...(operation.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(operation.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'looprail API', version: '1', description: 'Start, watch and stop governed agent loops. The same API runs on AWS (API Gateway, IAM auth) and locally (`looprail dev`, bearer token).' },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'the local dev server: the token `looprail dev` prints' },
        sigv4: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'a deployed stack: AWS Signature Version 4 (IAM)' },
      },
    },
    security: [{ bearer: [] }, { sigv4: [] }],
    paths,
  };
}
