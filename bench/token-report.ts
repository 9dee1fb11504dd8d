import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { formatUsd } from '../core/format/usd.ts';
import { type ModeFigures, type TokenFigures, tokenBenchmark } from './tokens.ts';

/** The token benchmark's section of bench/report.md, and its figures in bench/report.json. */

const HEADING = '## Tokens per run: naive, lean and code-mode harness';
const MODES = [
  ['naive', 'naive'],
  ['lean', 'lean'],
  ['code', 'lean + code mode'],
] as const;
const int = (n: number) => n.toLocaleString('en-US');

/**
 * Met when every mode whose requests carry an MCP server's tool schemas sends fewer
 * tool-schema tokens than the servers published; looprail's own tools have nothing to strip.
 */
export function schemaCheck(t: Record<(typeof MODES)[number][0], Pick<ModeFigures, 'tool_schemas'>>): {
  met: boolean;
  modes: string[];
} {
  const carrying = MODES.filter(([mode]) => t[mode].tool_schemas.requests_with_mcp_schemas > 0);
  const met =
    carrying.length > 0 &&
    carrying.every(([mode]) => t[mode].tool_schemas.sent_per_request < t[mode].tool_schemas.published_per_request);
  return { met, modes: carrying.map(([, name]) => name) };
}

function schemaMarkdown(t: TokenFigures): string {
  const row = (name: string, f: ModeFigures) => {
    const s = f.tool_schemas;
    return `| ${name} | ${s.requests} | ${s.requests_with_mcp_schemas} | ${int(s.published_per_request)} | ${int(s.sent_per_request)} | **${int(s.saved_per_request)}** | ${(s.saved_share * 100).toFixed(1)}% | ${int(s.saved_per_run)} | ${((100 * s.saved_per_run) / (f.input_tokens + s.saved_per_run)).toFixed(2)}% |`;
  };
  const check = schemaCheck(t);
  const none = MODES.filter(([mode]) => t[mode].tool_schemas.requests_with_mcp_schemas === 0).map(
    ([mode, name]) =>
      `${name} carries only looprail's own tools: ${int(t[mode].tool_schemas.saved_per_request)} fewer per request`,
  );
  const dropped = t.tool_schema_keywords_dropped.map((keyword) => `\`${keyword}\``).join(' and ');
  return `### Tool schemas as the servers publish them and as looprail sends them

The same requests counted twice, in the same run: the tools each request carries as sent (the tool-schema tokens in the input above), and the same tools with each input schema as its server published it (the run's servers' own \`tools/list\`, through the run's tool gateway). looprail drops ${dropped} from every tool schema, at every depth (\`core/policy/model-tool-schema.ts\`): no provider's tool format uses them, and they tell the model nothing. looprail's own tools (\`load_tools\`, \`read_result\`, the sandbox's) are counted the same both ways.

| mode | requests | carrying MCP servers' schemas | tool-schema tokens per request, as published | as sent | fewer per request | share of the tool-schema tokens | input tokens saved per run | share of the run's input tokens as published |
|---|---|---|---|---|---|---|---|---|
${MODES.map(([mode, name]) => row(name, t[mode])).join('\n')}

Tool-schema tokens per request down by the stripped keys: ${check.met ? 'met' : 'NOT met'} (sent < published in ${check.modes.join(' and ') || 'no mode'}${none.length ? `; ${none.join('; ')}` : ''}).
`;
}

export function tokenMarkdown(t: TokenFigures): string {
  const row = (name: string, f: ModeFigures) =>
    `| ${name} | ${f.model_calls} | ${f.tool_calls} | ${f.input_tokens.toLocaleString('en-US')} | ${f.cached_input_tokens.toLocaleString('en-US')} | ${f.cache_write_tokens.toLocaleString('en-US')} | ${f.output_tokens.toLocaleString('en-US')} | ${formatUsd(Math.round(f.cost_usd * 1e6))} | ${f.offloaded_results} | ${f.compactions} | ${f.stop_reason} |`;
  const mark = (value: number, target: number) => (value <= target ? 'met' : 'NOT met');
  return `
${HEADING}

One reference task (triage last night's CI) on the real harness — local host, DynamoDB Local, ${t.scenario.servers} MCP servers from npm over stdio (server-everything, server-memory, two server-filesystem) with ${t.scenario.tools} tools between them — planned as ${t.scenario.plan_steps} tool-using steps, ${t.scenario.results_of_50kb_or_more} of whose results are 50 KB or more (largest ${t.scenario.largest_result_chars.toLocaleString('en-US')} characters). Run three times by the same scripted policy:

- **naive**: every schema preloaded, results inline (cut at the harness's 48,000-character storage limit, which understates naive's cost: the comparison is conservative), no prompt caching, no compaction;
- **lean**: deferred tool loading, large results offloaded (read back with \`read_result\`), prompt caching (Anthropic-style breakpoints after the tools, the system prompt and the conversation), compaction on (context_window 200,000 at 0.75: not reached here).

**How the policy decides, so the comparison is fair**: it plays the same plan, one step per turn, with the same text and arguments in both modes. It reacts only to what the request shows it, as a model would: when the next step's tools are not in the request it first loads every tool the plan uses (one \`load_tools\` call per server, in one turn); when a step needs a fact from a result that was offloaded, it first greps the stored result with one \`read_result\` call. Those extra turns are counted in lean's figures. Tokens are counted with ${t.tokenizer} over exactly what each request carries (tool schemas, system prompt, every message block); prompt caching is simulated with Anthropic's rules (a request reads the longest prefix, at a block boundary, that an earlier request of the run wrote at a breakpoint; the rest up to its last breakpoint is a cache write). Prices: $${t.prices_per_mtok.input_per_mtok}/M input, $${t.prices_per_mtok.cached_input_per_mtok}/M cached read, $${t.prices_per_mtok.cache_write_per_mtok}/M cache write, $${t.prices_per_mtok.output_per_mtok}/M output, priced by the harness's own pricing code from models.yaml.

| mode | model calls | tool calls | input tokens | of which cached | cache writes | output tokens | billed cost | results offloaded | compactions | stop |
|---|---|---|---|---|---|---|---|---|---|---|
${row('naive', t.naive)}
${row('lean', t.lean)}
${row('lean + code mode', t.code)}

Lean over naive: input tokens **${(t.lean_over_naive.input_tokens * 100).toFixed(1)}%** (target ≤ 40%: ${mark(t.lean_over_naive.input_tokens, 0.4)}), billed cost **${(t.lean_over_naive.cost * 100).toFixed(1)}%** (target ≤ 25%: ${mark(t.lean_over_naive.cost, 0.25)}).
Lean with code mode over naive: input tokens **${(t.code_over_naive.input_tokens * 100).toFixed(1)}%**, billed cost **${(t.code_over_naive.cost * 100).toFixed(1)}%**.

**Code mode** (third row): the same agent with a sandbox (bubblewrap locally) and \`run_code\`. The policy makes the plan's calls from two programs instead of one turn per step: the first makes every read (the ci and archive calls of the plan, in order) and prints only the ERROR lines; the second makes every memory and echo call of the plan and prints what the memory then holds; then the same report. Each of those calls goes through the gateway as a call of its own (grants, guardrails, trace, side-effect claims), so tool calls match the other modes; what differs is that results stay in the sandbox and only the printed lines enter the context. The programs' text is counted as output tokens.

${schemaMarkdown(t)}`;
}

/** Called at the end of `npm run bench`: adds the section to bench/report.md and the figures to bench/report.json. */
export async function appendTokenReport(jsonPath: string, mdPath: string): Promise<void> {
  const figures = await tokenBenchmark();
  const json = JSON.parse(await readFile(jsonPath, 'utf8')) as Record<string, unknown>;
  await writeFile(jsonPath, `${JSON.stringify({ ...json, token_benchmark: figures }, null, 2)}\n`);
  const section = tokenMarkdown(figures);
  await writeFile(mdPath, `${await readFile(mdPath, 'utf8')}${section}`);
  console.log(section);
}

/**
 * Run alone: `node bench/token-report.ts` runs the token benchmark and replaces only its
 * section of bench/report.md (and \`token_benchmark\` in report.json), leaving the other
 * sections' figures from their own run.
 */
if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const figures = await tokenBenchmark();
  const report = await readFile('bench/report.md', 'utf8');
  const start = report.indexOf(HEADING);
  if (start < 0) throw new Error(`bench/report.md has no "${HEADING}" section to replace`);
  const next = report.indexOf('\n## ', start + 1);
  const end = next < 0 ? report.length : next + 1;
  const section = tokenMarkdown(figures).trim();
  await writeFile(
    'bench/report.md',
    `${report.slice(0, start)}${section}\n${next < 0 ? '' : `\n${report.slice(end)}`}`,
  );
  const json = JSON.parse(await readFile('bench/report.json', 'utf8')) as Record<string, unknown>;
  await writeFile('bench/report.json', `${JSON.stringify({ ...json, token_benchmark: figures }, null, 2)}\n`);
  console.log(section);
}
