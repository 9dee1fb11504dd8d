import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from '../core/definitions/zod.ts';
import type { ApprovalPage, ListApprovalsQuery } from '../functions/http/api/approvals.ts';
import type { Inventory } from '../functions/http/api/inventory.ts';
import type {
  AgentMemoryView,
  MemoryActionBody,
  MemoryActionResponse,
  MemoryQuery,
} from '../functions/http/api/memory.ts';
import type {
  ListRunsQuery,
  RunDetail,
  RunPage,
  RunSummary,
  RunTrace,
  TraceQuery,
} from '../functions/http/api/runs.ts';
import type { Problem } from '../functions/http/router.ts';
import type { OperatorDecision, OperatorDecisionBody } from '../functions/http/approval-pages.ts';

/**
 * The typed client of looprail's HTTP API: the one code path the CLI (and any script)
 * uses to talk to a `looprail dev` server or a deployed stack. Locally it sends the dev
 * server's bearer token. A deployed stack's API uses IAM auth, which needs SigV4 signing:
 * not done here yet (pass a `fetch` that signs, or put the API behind a token for now).
 */

export interface LooprailClientOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Defaults to the global fetch; a signing fetch plugs in here. */
  fetch?: typeof fetch;
}

/** A problem answer from the API, with its status, code and (when there is one) the field at fault. */
export class LooprailApiError extends Error {
  override name = 'looprail.ApiError';
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: number, problem: Problem) {
    super(problem.message);
    this.status = status;
    this.code = problem.code;
    this.field = problem.field;
  }
}

export interface StartRunRequest {
  agent: string;
  input?: unknown;
  /** The same key (for the same agent) returns the run it started before. */
  idempotencyKey?: string;
}

export class LooprailClient {
  readonly #base: URL;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;

  constructor(options: LooprailClientOptions) {
    this.#base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
    this.#token = options.token;
    this.#fetch = options.fetch ?? fetch;
  }

  /** `created` is false when the idempotency key named a run that exists. */
  async startRun(request: StartRunRequest): Promise<{ created: boolean; run: RunSummary }> {
    const { status, body } = await this.#call<RunSummary>('POST', 'v1/runs', { body: request });
    return { created: status === 201, run: body };
  }

  async getRun(runId: string): Promise<RunDetail> {
    return (await this.#call<RunDetail>('GET', `v1/runs/${encodeURIComponent(runId)}`)).body;
  }

  async listRuns(query: ListRunsQuery = {}): Promise<RunPage> {
    return (await this.#call<RunPage>('GET', 'v1/runs', { query })).body;
  }

  /** The whole trace: every page, in order (`query` reads one page). */
  async getTrace(runId: string, query?: TraceQuery): Promise<RunTrace> {
    const path = `v1/runs/${encodeURIComponent(runId)}/trace`;
    if (query) return (await this.#call<RunTrace>('GET', path, { query })).body;
    const whole: RunTrace = { runId, events: [], checkers: [] };
    let after: number | undefined;
    do {
      const page = (await this.#call<RunTrace>('GET', path, { query: { after } })).body;
      whole.events.push(...page.events);
      whole.checkers.push(...page.checkers);
      after = page.nextAfter;
    } while (after !== undefined);
    return whole;
  }

  async cancelRun(runId: string): Promise<RunSummary> {
    return (await this.#call<RunSummary>('POST', `v1/runs/${encodeURIComponent(runId)}/cancel`)).body;
  }

  async listApprovals(query: ListApprovalsQuery = {}): Promise<ApprovalPage> {
    return (await this.#call<ApprovalPage>('GET', 'v1/approvals', { query })).body;
  }

  /** An operator's decision on a pending approval (the same one-time decision as the mailed link). */
  async decideApproval(approvalId: string, body: OperatorDecisionBody): Promise<OperatorDecision> {
    return (
      await this.#call<OperatorDecision>('POST', `v1/approvals/${encodeURIComponent(approvalId)}/decision`, { body })
    ).body;
  }

  async inventory(): Promise<Inventory> {
    return (await this.#call<Inventory>('GET', 'v1/inventory')).body;
  }

  /** An agent's loop memory: the ledger as of now, the newest notes and operator actions. */
  async getMemory(agent: string, query: MemoryQuery = {}): Promise<AgentMemoryView> {
    return (await this.#call<AgentMemoryView>('GET', `v1/agents/${encodeURIComponent(agent)}/memory`, { query })).body;
  }

  /** Reopen an item, mark one done or clear the ledger, recorded with the caller's principal. */
  async actOnMemory(agent: string, body: MemoryActionBody): Promise<MemoryActionResponse> {
    const path = `v1/agents/${encodeURIComponent(agent)}/memory`;
    return (await this.#call<MemoryActionResponse>('POST', path, { body })).body;
  }

  async #call<T>(
    method: string,
    path: string,
    options: { query?: object; body?: unknown } = {},
  ): Promise<{ status: number; body: T }> {
    const url = new URL(path, this.#base);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.#fetch(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      throw new LooprailApiError(response.status, {
        code: 'invalid_response',
        message: `${method} ${url.pathname} answered ${response.status} with a body that is not JSON`,
      });
    }
    if (!response.ok) {
      const problem = (parsed as { error?: Problem } | undefined)?.error;
      throw new LooprailApiError(
        response.status,
        problem ?? { code: 'http_error', message: `${method} ${url.pathname} answered ${response.status}` },
      );
    }
    return { status: response.status, body: parsed as T };
  }
}

/** Where `looprail dev` writes its URL and token, under the state folder. */
export const DEV_FILE = 'dev.json';

const DevFile = z.object({ url: z.url(), token: z.string().check(z.minLength(1)) });

/**
 * The API to talk to: `--url`/`--token` (or LOOPRAIL_URL / LOOPRAIL_TOKEN) when given,
 * otherwise the running `looprail dev` server found in `<state-dir>/dev.json`.
 */
export async function resolveEndpoint(
  options: { url?: string; token?: string; stateDir: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ url: string; token?: string }> {
  const url = options.url ?? env.LOOPRAIL_URL;
  if (url) return { url, token: options.token ?? env.LOOPRAIL_TOKEN };
  const file = join(options.stateDir, DEV_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new Error(
      `no looprail dev server found (${file} does not exist): start one with \`looprail dev\`, or pass --url and --token`,
    );
  }
  let parsed: ReturnType<typeof DevFile.safeParse>;
  try {
    parsed = DevFile.safeParse(JSON.parse(text));
  } catch {
    parsed = DevFile.safeParse(undefined);
  }
  if (!parsed.success) throw new Error(`${file} is not what \`looprail dev\` writes; restart the dev server`);
  return { url: parsed.data.url, token: options.token ?? parsed.data.token };
}
