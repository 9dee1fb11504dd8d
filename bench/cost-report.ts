import type { budgetThroughput } from './budget-throughput.ts';
import type { handlerBundles } from './bundles.ts';
import type { infraCost } from './cost.ts';
import type { secretsPerIteration } from './secrets.ts';
import { AWS_PRICES } from './aws-prices.ts';
import { bundlesMarkdown } from './bundles-report.ts';

/** The report's sections on what the runtime costs on AWS: secrets, bundles, money per iteration, budget races. */

export interface CostFigures {
  secrets_manager: Awaited<ReturnType<typeof secretsPerIteration>>;
  lambda_bundles: Awaited<ReturnType<typeof handlerBundles>>;
  infra_cost: Awaited<ReturnType<typeof infraCost>>;
  budget_reservations: Awaited<ReturnType<typeof budgetThroughput>>;
}

const usd = (n: number) => `$${n.toPrecision(3)}`;
const verdict = (met: boolean) => (met ? 'met' : '**missed**');

/** Why ModelStep has the memory it has: what the bench measured of it, and what the same wait bills at the other sizes. */
function modelStepSizing(
  bundles: CostFigures['lambda_bundles'],
  wait: CostFigures['infra_cost']['model_wait'],
): string {
  const measured = bundles.handlers.find((handler) => handler.name === 'ModelStep');
  const at = (mb: number) =>
    `${mb} MB ${((mb / 1024) * wait.seconds).toFixed(2)} GB-s (${usd((mb / 1024) * wait.seconds * AWS_PRICES.lambdaArmGbSecond.usd)})`;
  return `ModelStep's memory is set by measurement: it mostly waits on the network, and its bundle holds ${measured ? `${measured.rss_after_import_mb} MB resident (${measured.heap_after_import_mb} MB of heap) after its init (Lambda bundles above)` : 'little (Lambda bundles above)'}, so ${wait.model_step_memory_mb} MB leaves several times that for the largest conversation a step holds. The same ${wait.seconds} s wait at ${[256, 512, 1024].map(at).join('; ')}. Lambda gives CPU in proportion to memory, so a smaller size lengthens only the step's own CPU work (tens of ms here), which bills about the same GB-s at any size.`;
}

export function costMarkdown(figures: CostFigures): string {
  const { secrets_manager: secrets, lambda_bundles: bundles, infra_cost: cost, budget_reservations: budget } = figures;
  const wait = cost.model_wait;
  return `
## Secrets Manager reads per iteration

${secrets.runs.length} runs of ${secrets.runs[0]!.iterations} iterations through \`agentScopes()\` (the deployed steps' per-agent clients) with the real SDK against a local STS + Secrets Manager endpoint; an OpenAI-compatible model reading its key by name on every call, and the MCP server given a token through \`env_secrets\`. Lookups are counted at the SecretStore port, API calls at the endpoint.

| run | iterations | port lookups | GetSecretValue calls | in the first iteration | after the first iteration | AssumeRole calls |
|---|---|---|---|---|---|---|
${secrets.runs.map((run, i) => `| ${i + 1} | ${run.iterations} | ${run.lookups} | ${run.api_calls} | ${run.api_calls_in_first_iteration} | ${run.api_calls_after_first_iteration} | ${run.assume_role_calls} |`).join('\n')}

After the first iteration: **${secrets.api_calls_per_iteration_after_first}** calls per iteration (target 0: ${verdict(secrets.api_calls_per_iteration_after_first === 0)}); ${secrets.lookups_per_iteration} lookups per iteration are served by SecretsManagerStore's in-memory cache (5 min TTL, one request in flight per name). The cache lives in the agent scope, which \`agentScopes()\` keys by identity **and run**, so every run reads each of its secrets once again; on AWS each function's container has its own cache, so a run reads the model key in ModelStep and the MCP token wherever the server starts (StartRun, ToolStep) — a few calls per run, ${secrets.api_calls_per_iteration_amortized} per iteration spread over these runs.

${bundlesMarkdown(bundles)}
## Infra cost per iteration on AWS

The real loop's measured counts (above) × list prices (bench/aws-prices.ts, US East, on-demand), Lambda duration as measured here per step × its configured memory (${Object.entries(
    cost.lambda_memory_mb,
  )
    .map(([step, mb]) => `${step} ${mb} MB`)
    .join(
      ', ',
    )}), DynamoDB units from item sizes at the store's client (transactions 2 per KB per item, the GSI's writes included). Compared with one call of ${cost.model_call}: ${usd(cost.model_call_usd)}.

| per iteration | transitions | Lambda invocations | Lambda GB-s | DynamoDB RRU | DynamoDB WRU | Secrets Manager calls | log bytes (our JSON logs + EMF) |
|---|---|---|---|---|---|---|---|
| count | ${cost.per_iteration.transitions} | ${cost.per_iteration.lambda_invocations} | ${cost.per_iteration.lambda_gb_seconds} | ${cost.per_iteration.dynamodb_read_units} | ${cost.per_iteration.dynamodb_write_units} | ${cost.per_iteration.secrets_manager_calls} | ${cost.per_iteration.log_bytes} |
| USD | ${usd(cost.usd_per_iteration.step_functions!)} | ${usd(cost.usd_per_iteration.lambda_requests!)} | ${usd(cost.usd_per_iteration.lambda_duration!)} | ${usd(cost.usd_per_iteration.dynamodb_reads!)} | ${usd(cost.usd_per_iteration.dynamodb_writes!)} | ${usd(cost.usd_per_iteration.secrets_manager!)} | ${usd(cost.usd_per_iteration.cloudwatch_logs!)} |

Total **${usd(cost.total_usd_per_iteration)}** per iteration = **${cost.percent_of_model_call}%** of the model call (target ≤ 0.15%: ${verdict(cost.percent_of_model_call <= 0.15)}). Step Functions' ${AWS_PRICES.stepFunctionsStandardTransitions.usd} USD per 1,000 transitions alone is ${((cost.usd_per_iteration.step_functions! / cost.model_call_usd) * 100).toFixed(3)}%. Not counted: ${cost.not_counted}. The Lambda durations are this machine's with a zero-latency model and DynamoDB Local; the wait on a real model is the next section.

## Lambda time a model step bills while the model thinks

A ${wait.seconds} s model call holds the ModelStep Lambda (${wait.model_step_memory_mb} MB) for ${wait.seconds} s: **${wait.gb_seconds} GB-s = ${usd(wait.usd)}**, ${wait.percent_of_model_call}% of the model call; with the infra above, ${wait.percent_of_model_call_with_infra}%.

${modelStepSizing(bundles, wait)}

What the design does about it, from the code: the model call is one synchronous HTTPS request inside the ModelStep invocation (no polling loop and no second invocation per call), so the bill is the provider's latency × the step's memory, nothing more. Each attempt is cut at ${wait.http_timeout_ms / 1000} s and the adapter makes at most ${wait.http_max_attempts} attempts inside a ${wait.http_retry_budget_ms / 1000} s budget (adapters/models/http-call.ts); longer waits — ${wait.state_machine_retries.map((r) => `\`${r.errors.join('`, `')}\` (${r.interval_s} s, ×${r.backoff}, ${r.attempts} attempts)`).join('; ')} — are the ModelStep state's Retry, which bills state transitions, not Lambda seconds. Human approvals wait on \`lambda:invoke.waitForTaskToken\`: the RequestApproval Lambda returns at once and the wait bills nothing. Memory is set per step in one place (STEP_SPECS in infra/constructs/step-functions.ts, overridable per deployment with \`stepSettings\`); the ModelStep's ${wait.model_step_memory_mb} MB is what multiplies the wait, and the wait overtakes the state transitions as the largest line of the cost per iteration once a model call takes longer than ${(cost.usd_per_iteration.step_functions! / ((wait.model_step_memory_mb / 1024) * AWS_PRICES.lambdaArmGbSecond.usd)).toFixed(1)} s.

## Budget reservations racing on one key

${budget.concurrent} concurrent \`reserveBudget\` calls through the real store on DynamoDB Local, one budget key, a limit with room for ${budget.limit_fits}. Transient failures retried with the same charge id (as the state machine retries the step).

| reservations / s | wall | reserved | refused | transient retries | used / limit | never over the limit |
|---|---|---|---|---|---|---|
| ${budget.reservations_per_second} | ${budget.wall_ms} ms | ${budget.reserved} | ${budget.refused} | ${budget.transient_retries} | ${budget.used_micros} / ${budget.limit_micros} µUSD | ${budget.within_limit ? 'yes' : '**NO**'} |
`;
}
