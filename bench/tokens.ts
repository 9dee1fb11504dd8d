import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalHost, startLocalHost } from '../cli/local/host.ts';
import type { RunMeta } from '../core/definitions/run.ts';
import { DROPPED_KEYWORDS } from '../core/policy/model-tool-schema.ts';
import { PolicyProvider } from './token-policy.ts';
import { publishedSchemas, type SchemaTokens, schemaTokens } from './token-schemas.ts';
import { PLAN, PRICE, writeOrg, writeWorkspace } from './token-scenario.ts';

/**
 * The token benchmark: one reference task run three times on the real harness (local host,
 * DynamoDB Local, real MCP servers over stdio) by the same scripted policy — naive (every
 * schema preloaded, results inline, no prompt caching, no compaction), lean (deferred
 * tools, offloaded results, prompt caching, compaction on), and lean with code mode (the
 * plan's calls made from two programs in a bubblewrap sandbox). Tokens are counted
 * with js-tiktoken's o200k_base over exactly what each request carries: a proxy for
 * Claude's own tokenizer, which is not published; both modes are counted the same way.
 * Each request's tool-schema tokens are also counted with the servers' schemas as published
 * (token-schemas.ts), in the same run, to show what the harness strips from them.
 * The task is token-scenario.ts, the policy token-policy.ts, the report token-report.ts.
 */

const MODES = ['naive', 'lean', 'code'] as const;
type Mode = (typeof MODES)[number];

export interface ModeFigures {
  model_calls: number;
  tool_calls: number;
  input_tokens: number;
  cached_input_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  cost_usd: number;
  stop_reason?: string;
  offloaded_results: number;
  compactions: number;
  tool_schemas: SchemaTokens;
}

/** One mode's figures, from its run's record, trace and the policy that played it. */
async function modeFigures(
  host: LocalHost,
  runId: string,
  meta: RunMeta,
  policy: PolicyProvider,
): Promise<ModeFigures> {
  const trace = await host.deps.store.listTrace(runId);
  const calls = trace.filter((event) => event.kind === 'model_call');
  const writes = calls.reduce(
    (sum, event) => sum + Number(/(\d+) input tokens written to the cache/.exec(event.detail ?? '')?.[1] ?? 0),
    0,
  );
  const sent = policy.toolsSent.filter((request) => request.runId === runId);
  return {
    model_calls: calls.length,
    tool_calls: meta.toolCalls,
    input_tokens: meta.usage.inputTokens,
    cached_input_tokens: meta.usage.cachedInputTokens,
    cache_write_tokens: writes,
    output_tokens: meta.usage.outputTokens,
    cost_usd: meta.usage.costMicros / 1e6,
    stop_reason: meta.stopReason,
    offloaded_results: meta.offloadedResults?.length ?? 0,
    compactions: trace.filter((event) => event.kind === 'context_compacted').length,
    tool_schemas: schemaTokens(sent, await publishedSchemas(host, runId, meta)),
  };
}

export async function tokenBenchmark() {
  const base = await mkdtemp(join(tmpdir(), 'looprail-token-bench-'));
  const workspace = join(base, 'workspace');
  const org = join(base, 'org');
  await writeWorkspace(workspace);
  await writeOrg(org, workspace);
  const policies = {
    naive: new PolicyProvider(workspace, false),
    lean: new PolicyProvider(workspace, true),
    code: new PolicyProvider(workspace, true, true),
  };
  let mode: Mode = 'naive';
  const host = await startLocalHost({
    orgDir: org,
    stateDir: join(base, 'state'),
    wrapDeps: (deps) => ({
      ...deps,
      providers: {
        ...deps.providers,
        scripted: { name: 'scripted', complete: (request) => policies[mode].complete(request) },
      },
    }),
  });
  const figures: Record<Mode, ModeFigures> = {} as never;
  let tools = 0;
  const big: number[] = [];
  try {
    for (const current of MODES) {
      mode = current;
      const { runId, meta } = await host.run({ agent: current, input: { task: "Triage last night's CI." } });
      figures[current] = await modeFigures(host, runId, meta, policies[current]);
      if (current === 'naive') {
        const state = await host.deps.store.loadState(runId);
        tools = state!.context!.tools.filter((tool) => !tool.builtin).length;
        // Results the servers returned at 50 KB or more (the harness cuts what it keeps inline at 48,000 characters).
        for (const event of await host.deps.store.listTrace(runId)) {
          const size = Number(/^result cut from (\d+) characters/.exec(event.detail ?? '')?.[1] ?? 0);
          if (size >= 50_000) big.push(size);
        }
      }
    }
  } finally {
    await host.close();
    await rm(base, { recursive: true, force: true });
  }
  const ratio = (key: 'input_tokens' | 'cost_usd', of: Mode = 'lean') =>
    Number((figures[of][key] / figures.naive[key]).toFixed(3));
  return {
    tokenizer: "js-tiktoken o200k_base (a proxy for Claude's tokenizer)",
    tool_schema_keywords_dropped: [...DROPPED_KEYWORDS],
    prices_per_mtok: PRICE,
    scenario: {
      servers: 4,
      tools,
      plan_steps: PLAN.length,
      results_of_50kb_or_more: big.length,
      largest_result_chars: Math.max(0, ...big),
    },
    naive: figures.naive,
    lean: figures.lean,
    code: figures.code,
    lean_over_naive: { input_tokens: ratio('input_tokens'), cost: ratio('cost_usd') },
    code_over_naive: { input_tokens: ratio('input_tokens', 'code'), cost: ratio('cost_usd', 'code') },
    targets: { input_tokens: '≤ 0.40', cost: '≤ 0.25' },
  };
}

export type TokenFigures = Awaited<ReturnType<typeof tokenBenchmark>>;
