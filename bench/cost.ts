import { loadOrgFolder } from '../adapters/catalog/fs-loader.ts';
import { loadDefinition } from '../cli/local/executor.ts';
import { DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY_BUDGET_MS, DEFAULT_TIMEOUT_MS } from '../adapters/models/http-call.ts';
import { costMicros } from '../core/budgets/pricing.ts';
import type { StepFunctionName } from '../core/definitions/steps.ts';
import { STEP_SPECS } from '../infra/constructs/step-functions.ts';
import { AWS_PRICES, SONNET_CLASS_CALL } from './aws-prices.ts';

/**
 * What one loop iteration costs on AWS, from the counts the real loop measured (state
 * transitions, Lambda invocations and their durations, DynamoDB request units, Secrets
 * Manager calls) × the prices in aws-prices.ts, against a Sonnet-class model call.
 * Lambda memory is each step's configured size (STEP_SPECS in the infra construct).
 */

export interface MeasuredLoop {
  iterations: number;
  transitions_per_iteration: number;
  dynamodb_read_units_per_iteration: number;
  dynamodb_write_units_per_iteration: number;
  log_bytes_per_iteration: number;
  lambda_steps: Partial<Record<StepFunctionName, { invocations: number; billed_ms: number }>>;
}

const gb = (memoryMb: number) => memoryMb / 1024;

/** The ModelStep state's own retries of model trouble (statemachines/agent-run.asl.json): waits Step Functions holds, not Lambda. */
function modelStepRetries() {
  const state = (
    loadDefinition().definition.States as Record<
      string,
      { Retry?: Array<{ ErrorEquals: string[]; IntervalSeconds?: number; MaxAttempts?: number; BackoffRate?: number }> }
    >
  ).ModelStep!;
  return (
    (state.Retry ?? [])
      .filter((retry) =>
        retry.ErrorEquals.some((error) => error === 'looprail.ModelUnavailable' || error === 'looprail.RateLimited'),
      )
      // Absent fields take the Amazon States Language defaults.
      .map((retry) => ({
        errors: retry.ErrorEquals,
        interval_s: retry.IntervalSeconds ?? 1,
        backoff: retry.BackoffRate ?? 2,
        attempts: retry.MaxAttempts ?? 3,
      }))
  );
}

/** The list price of the comparison call, from the model's own declaration in agents/models.yaml. */
async function sonnetCallUsd(): Promise<number> {
  const { catalog } = await loadOrgFolder('agents');
  const model = catalog?.models[SONNET_CLASS_CALL.model];
  if (!model) throw new Error(`agents/models.yaml declares no ${SONNET_CLASS_CALL.model}`);
  return (
    costMicros(model.declaration.price, {
      inputTokens: SONNET_CLASS_CALL.inputTokens,
      outputTokens: SONNET_CLASS_CALL.outputTokens,
      cachedInputTokens: 0,
    }) / 1e6
  );
}

export async function infraCost(loop: MeasuredLoop, secretsApiCallsPerIteration: number, modelWaitSeconds = 15) {
  const steps = Object.entries(loop.lambda_steps) as Array<
    [StepFunctionName, { invocations: number; billed_ms: number }]
  >;
  const invocations = steps.reduce((sum, [, step]) => sum + step.invocations, 0) / loop.iterations;
  const gbSeconds =
    steps.reduce((sum, [name, step]) => sum + (step.billed_ms / 1000) * gb(STEP_SPECS[name].memorySize), 0) /
    loop.iterations;
  const usd = {
    step_functions: loop.transitions_per_iteration * (AWS_PRICES.stepFunctionsStandardTransitions.usd / 1000),
    lambda_requests: invocations * (AWS_PRICES.lambdaRequests.usd / 1e6),
    lambda_duration: gbSeconds * AWS_PRICES.lambdaArmGbSecond.usd,
    dynamodb_reads: loop.dynamodb_read_units_per_iteration * (AWS_PRICES.dynamodbOnDemandReadRequestUnits.usd / 1e6),
    dynamodb_writes: loop.dynamodb_write_units_per_iteration * (AWS_PRICES.dynamodbOnDemandWriteRequestUnits.usd / 1e6),
    secrets_manager: secretsApiCallsPerIteration * (AWS_PRICES.secretsManagerApiCalls.usd / 1e4),
    cloudwatch_logs: (loop.log_bytes_per_iteration / 1024 ** 3) * AWS_PRICES.cloudWatchLogsIngestion.usd,
  };
  const total = Object.values(usd).reduce((sum, value) => sum + value, 0);
  const modelCall = await sonnetCallUsd();

  // The model step holds its Lambda for as long as the provider takes to answer.
  const modelStepMemoryMb = STEP_SPECS.ModelStep.memorySize;
  const waitGbSeconds = gb(modelStepMemoryMb) * modelWaitSeconds;
  const waitUsd = waitGbSeconds * AWS_PRICES.lambdaArmGbSecond.usd;
  const sig = (n: number) => Number(n.toPrecision(3));
  return {
    per_iteration: {
      transitions: loop.transitions_per_iteration,
      lambda_invocations: Number(invocations.toFixed(2)),
      lambda_gb_seconds: sig(gbSeconds),
      dynamodb_read_units: loop.dynamodb_read_units_per_iteration,
      dynamodb_write_units: loop.dynamodb_write_units_per_iteration,
      secrets_manager_calls: sig(secretsApiCallsPerIteration),
      log_bytes: loop.log_bytes_per_iteration,
    },
    lambda_memory_mb: Object.fromEntries(steps.map(([name]) => [name, STEP_SPECS[name].memorySize])),
    usd_per_iteration: Object.fromEntries(Object.entries(usd).map(([key, value]) => [key, sig(value)])),
    total_usd_per_iteration: sig(total),
    model_call_usd: modelCall,
    model_call: `${SONNET_CLASS_CALL.inputTokens} input + ${SONNET_CLASS_CALL.outputTokens} output tokens of ${SONNET_CLASS_CALL.model}; ${SONNET_CLASS_CALL.source}`,
    percent_of_model_call: Number(((total / modelCall) * 100).toFixed(3)),
    not_counted:
      "Lambda's own platform log records (start/report lines per invocation), CloudWatch custom-metric charges for the EMF metrics (per metric-month, not per iteration), EventBridge events (none configured in the bench), X-Ray/OTel export, data transfer, storage",
    model_wait: {
      seconds: modelWaitSeconds,
      model_step_memory_mb: modelStepMemoryMb,
      gb_seconds: waitGbSeconds,
      usd: sig(waitUsd),
      percent_of_model_call: Number(((waitUsd / modelCall) * 100).toFixed(3)),
      percent_of_model_call_with_infra: Number((((waitUsd + total) / modelCall) * 100).toFixed(3)),
      http_timeout_ms: DEFAULT_TIMEOUT_MS,
      http_max_attempts: DEFAULT_MAX_ATTEMPTS,
      http_retry_budget_ms: DEFAULT_RETRY_BUDGET_MS,
      state_machine_retries: modelStepRetries(),
    },
  };
}
