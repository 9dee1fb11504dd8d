import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StateMachine } from 'aws-local-stepfunctions';
import { STEP_FUNCTION_NAMES, type StepFunctionName, type StepHandler } from '../../functions/_shared/handlers.ts';

/**
 * Runs the very ASL file that `cdk deploy` ships, with aws-local-stepfunctions, each
 * Task state mapped to the same handler its Lambda runs. Only the edges differ: the
 * handlers get local adapters, and task tokens are minted and resolved here.
 */

export const ASL_PATH = fileURLToPath(new URL('../../statemachines/agent-run.asl.json', import.meta.url));
const LOCAL_ARN_PREFIX = 'arn:aws:lambda:us-east-1:000000000000:function:looprail-';

interface TaskState {
  Type: string;
  Resource?: string;
  TimeoutSecondsPath?: string;
  Parameters?: { FunctionName?: string; Payload?: Record<string, unknown> };
  Retry?: Array<{ ErrorEquals: string[] }>;
}

/** Errors whose retries wait for other runs to finish something, not for a fault to pass. */
const WAITS_FOR_OTHERS = new Set(['looprail.BudgetContended']);

/**
 * Engine gap: Step Functions reads TimeoutSecondsPath from the state's input, but
 * aws-local-stepfunctions reads it from the input after Parameters. Locally, the value
 * is also passed into the Payload and the path pointed there; on AWS the ASL is as written.
 */
function adaptTimeoutPaths(states: Record<string, TaskState>): void {
  for (const state of Object.values(states)) {
    const path = state.TimeoutSecondsPath;
    const payload = state.Parameters?.Payload;
    if (!path || !payload || !/^\$\.\w+$/.test(path)) continue;
    const field = path.slice(2);
    payload[`${field}.$`] = path;
    state.TimeoutSecondsPath = `$.Payload.${field}`;
  }
}

export interface ExecutionOutcome {
  status: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  output?: unknown;
  error?: { name: string; message: string };
  /** States entered, in order: what the benchmark counts as transitions. */
  statesEntered: string[];
  /** History events as Step Functions would count them (entered + exited + retries + catches). */
  historyEvents: number;
  /** The largest state input or output seen, in bytes (the payload budget is 256 KB on AWS). */
  largestPayloadBytes: number;
}

export interface ExecutorOptions {
  handlers: Record<StepFunctionName, StepHandler>;
  /**
   * Milliseconds between retries, instead of the ASL's backoff (tests use 0). Retriers that
   * wait for other runs (budget contention) keep the ASL's jittered backoff: a fixed short
   * interval would just spin through their attempts while the holders are still running.
   */
  retryIntervalMs?: number;
  onStateEntered?: (state: string) => void;
}

type EventLog = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

interface PendingToken {
  resolve(output: unknown): void;
  reject(error: Error): void;
}

/** Reads the ASL and substitutes each `${XFunctionArn}` with a local ARN, as CloudFormation would with real ones. */
export function loadDefinition(path = ASL_PATH): { definition: Record<string, unknown>; functionOf: Map<string, StepFunctionName> } {
  const text = readFileSync(path, 'utf8').replace(/\$\{(\w+)FunctionArn\}/g, (_, name: string) => `${LOCAL_ARN_PREFIX}${name}`);
  const definition = JSON.parse(text) as { States: Record<string, TaskState> };
  adaptTimeoutPaths(definition.States);
  const functionOf = new Map<string, StepFunctionName>();
  for (const [state, body] of Object.entries(definition.States)) {
    const functionName = body.Parameters?.FunctionName;
    if (body.Type !== 'Task' || !functionName) continue;
    const name = functionName.slice(LOCAL_ARN_PREFIX.length) as StepFunctionName;
    if (!STEP_FUNCTION_NAMES.includes(name)) throw new Error(`state ${state} names an unknown function ${functionName}`);
    functionOf.set(state, name);
  }
  return { definition, functionOf };
}

export class LocalExecutor {
  private readonly machine: StateMachine;
  private readonly states: Record<string, TaskState>;
  private readonly functionOf: Map<string, StepFunctionName>;
  private readonly tokens = new Map<string, PendingToken>();
  private readonly options: ExecutorOptions;

  constructor(options: ExecutorOptions) {
    this.options = options;
    const { definition, functionOf } = loadDefinition();
    this.machine = new StateMachine(definition as never, { validationOptions: { checkArn: true, checkPaths: true } });
    this.states = definition.States as Record<string, TaskState>;
    this.functionOf = functionOf;
  }

  /** Tokens of executions waiting on a human (or anything else) right now. */
  pendingTokens(): string[] {
    return [...this.tokens.keys()];
  }

  sendTaskSuccess(token: string, output: unknown): void {
    const pending = this.take(token);
    pending.resolve(output);
  }

  sendTaskFailure(token: string, error: string, cause: string): void {
    const pending = this.take(token);
    const failure = new Error(cause);
    failure.name = error;
    pending.reject(failure);
  }

  private take(token: string): PendingToken {
    const pending = this.tokens.get(token);
    if (!pending) throw new Error('TaskTimedOut: no execution is waiting on this token');
    this.tokens.delete(token);
    return pending;
  }

  async run(input: { runId: string }, signal?: AbortSignal): Promise<ExecutionOutcome> {
    const overrides: Record<string, (input: unknown) => Promise<unknown>> = {};
    const retryIntervalOverrides: Record<string, number[]> = {};
    let currentToken = '';
    for (const [state, name] of this.functionOf) {
      const handler = this.options.handlers[name];
      const waits = this.isWaitForToken(state);
      overrides[state] = async (parameters) => {
        const { Payload } = parameters as { Payload: unknown };
        if (!waits) return { Payload: await handler(Payload) };
        // waitForTaskToken: the handler stores the token; the state completes when someone sends it back.
        const token = currentToken;
        const result = new Promise((resolve, reject) => this.tokens.set(token, { resolve, reject }));
        try {
          await handler(Payload);
        } catch (error) {
          this.tokens.delete(token);
          throw error;
        }
        return result;
      };
      if (this.options.retryIntervalMs !== undefined) retryIntervalOverrides[state] = this.retryOverrides(state, this.options.retryIntervalMs);
    }
    const context = {
      Execution: { Id: `arn:aws:states:local:000000000000:execution:looprail-agent-run:${input.runId}`, Name: input.runId },
      Task: {
        // A fresh token for every wait, as Step Functions mints one per task.
        get Token() {
          currentToken = randomBytes(32).toString('base64url');
          return currentToken;
        },
      },
    };
    const execution = this.machine.run(input, {
      overrides: { taskResourceLocalHandlers: overrides as never, retryIntervalOverrides },
      context: context as never,
      noThrowOnAbort: true,
    });
    signal?.addEventListener('abort', () => execution.abort(), { once: true });
    const history = this.collectHistory(execution.eventLogs);
    try {
      const output = await execution.result;
      const stats = await history;
      if (output === null && signal?.aborted) return { status: 'ABORTED', ...stats };
      return { status: 'SUCCEEDED', output, ...stats };
    } catch (error) {
      const stats = await history;
      const failure = error as Error & { cause?: unknown };
      return { status: 'FAILED', error: { name: failure.name, message: failure.message }, ...stats };
    }
  }

  /** One interval per retrier; -1 leaves that retrier's ASL backoff in place. */
  private retryOverrides(state: string, intervalMs: number): number[] {
    return (this.states[state]?.Retry ?? []).map((retrier) => (retrier.ErrorEquals.some((name) => WAITS_FOR_OTHERS.has(name)) ? -1 : intervalMs));
  }

  private isWaitForToken(state: string): boolean {
    return this.states[state]?.Resource?.endsWith('.waitForTaskToken') ?? false;
  }

  private async collectHistory(events: AsyncGenerator<EventLog>): Promise<Pick<ExecutionOutcome, 'statesEntered' | 'historyEvents' | 'largestPayloadBytes'>> {
    const statesEntered: string[] = [];
    let historyEvents = 0;
    let largestPayloadBytes = 0;
    for await (const event of events) {
      historyEvents += 1;
      if (event.type === 'StateEntered') {
        statesEntered.push(event.state.name);
        this.options.onStateEntered?.(event.state.name);
      }
      if (event.type === 'StateEntered' || event.type === 'StateExited') {
        const payload = event.type === 'StateEntered' ? event.state.input : event.state.output;
        largestPayloadBytes = Math.max(largestPayloadBytes, Buffer.byteLength(JSON.stringify(payload ?? null)));
      }
    }
    return { statesEntered, historyEvents, largestPayloadBytes };
  }
}
