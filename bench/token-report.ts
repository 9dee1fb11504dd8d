import { readFile, writeFile } from 'node:fs/promises';
import { formatUsd } from '../core/format/usd.ts';
import { type ModeFigures, type TokenFigures, tokenBenchmark } from './tokens.ts';

/** The token benchmark's section of bench/report.md, and its figures in bench/report.json. */

export function tokenMarkdown(t: TokenFigures): string {
  const row = (name: string, f: ModeFigures) =>
    `| ${name} | ${f.model_calls} | ${f.tool_calls} | ${f.input_tokens.toLocaleString('en-US')} | ${f.cached_input_tokens.toLocaleString('en-US')} | ${f.cache_write_tokens.toLocaleString('en-US')} | ${f.output_tokens.toLocaleString('en-US')} | ${formatUsd(Math.round(f.cost_usd * 1e6))} | ${f.offloaded_results} | ${f.compactions} | ${f.stop_reason} |`;
  const mark = (value: number, target: number) => (value <= target ? 'met' : 'NOT met');
  return `
## Tokens per run: naive, lean and code-mode harness

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
`;
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
