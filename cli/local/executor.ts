import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StateMachine } from 'aws-local-stepfunctions';
import { epochForSeq, executionNameFor } from '../../core/run/continuation.ts';
import { STEP_FUNCTION_NAMES, type StepFunctionName } from '../../core/definitions/steps.ts';
import type { StepHandler } from '../../functions/_shared/handlers.ts';

/**
 * Runs the very ASL file that `cdk deploy` ships, with aws-local-stepfunctions, each
 * Task state mapped to the same handler its Lambda runs. Only the edges differ: the
 * handlers get local adapters, and task tokens are minted and resolved here.
 */

export const ASL_PATH = fileURLToPath(new URL('../../statemachines/agent-run.asl.json', import.meta.url));
const LOCAL_ARN_PREFIX = 'arn:aws:lambda:us-east-1:000000000000:function:looprail-';
const LOCAL_STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:looprail-agent-run';

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
  /** Executions the run took (continue-as-new), and the most history events any one of them had. */
  executions: number;
  maxHistoryEvents: number;
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
  /**
   * Where a run stands, for a child execution started after a restart (Delegate): one that
   * ended is refused as Step Functions refuses a taken name, one under way resumes at its seq.
   */
  runProgress?: (runId: string) => Promise<{ seq: number; ended: boolean } | undefined>;
  /** The definition to run; default: statemachines/agent-run.asl.json with local ARNs. */
  definition?: LoadedDefinition;
  /** The state machine's ARN, as `$$.StateMachine.Id` and in execution ARNs. */
  stateMachineArn?: string;
  /**
   * Called before a Task state starts an execution (continue-as-new, or a child with
   * `.sync:2`); a throw fails the state as the service would (the stack-in-a-box checks
   * the state machine's role here).
   */
  beforeStartExecution?: (name: string, input: Record<string, unknown>, sync: boolean) => Promise<void>;
  /**
   * Called when a child execution (`.sync:2`) ends other than by succeeding. Without it the
   * executor records the ending with FailRun itself, as the deployed execution-status rule
   * would; the stack-in-a-box gives it, since its rule runs FailRun from the event.
   */
  onChildEnded?: (name: string, outcome: ExecutionOutcome) => Promise<void>;
}

type EventLog = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

interface PendingToken {
  resolve(output: unknown): void;
  reject(error: Error): void;
}

/** A definition ready to run: its states, and which step function each Lambda task state invokes. */
export interface LoadedDefinition {
  definition: Record<string, unknown>;
  functionOf: Map<string, StepFunctionName>;
}

/**
 * Reads the ASL and substitutes each `${XFunctionArn}` with an ARN, as CloudFormation does
 * with the template's DefinitionSubstitutions: local ARNs by default, the stack's own when
 * the stack-in-a-box runs the definition cdk.out holds.
 */
export function loadDefinition(
  path = ASL_PATH,
  arnOf: (name: StepFunctionName) => string = (name) => `${LOCAL_ARN_PREFIX}${name}`,
): LoadedDefinition {
  const text = readFileSync(path, 'utf8').replace(/\$\{(\w+)FunctionArn\}/g, (_, name: string) =>
    STEP_FUNCTION_NAMES.includes(name as StepFunctionName) ? arnOf(name as StepFunctionName) : `\${${name}FunctionArn}`,
  );
  const definition = JSON.parse(text) as { States: Record<string, TaskState> };
  adaptTimeoutPaths(definition.States);
  const nameOfArn = new Map(STEP_FUNCTION_NAMES.map((name) => [arnOf(name), name]));
  const functionOf = new Map<string, StepFunctionName>();
  for (const [state, body] of Object.entries(definition.States)) {
    const functionName = body.Parameters?.FunctionName;
    if (body.Type !== 'Task' || !functionName) continue;
    const name = nameOfArn.get(functionName);
    if (!name) throw new Error(`state ${state} names an unknown function ${functionName}`);
    functionOf.set(state, name);
  }
  return { definition, functionOf };
}

export class LocalExecutor {
  private readonly machine: StateMachine;
  private readonly states: Record<string, TaskState>;
  private readonly functionOf: Map<string, StepFunctionName>;
  private readonly tokens = new Map<string, PendingToken>();
  /** Task states that start an execution of this machine (continue-as-new). */
  private readonly startsExecution: string[];
  /** Task states that start an execution of this machine and wait for its end (`.sync:2`: a delegated sub-agent). */
  private readonly runsExecution: string[];
  /** Execution names started here, refused a second time as Step Functions does. */
  private readonly executionNames = new Set<string>();
  private readonly options: ExecutorOptions;
  private readonly stateMachineArn: string;

  constructor(options: ExecutorOptions) {
    this.options = options;
    const { definition, functionOf } = options.definition ?? loadDefinition();
    this.stateMachineArn = options.stateMachineArn ?? LOCAL_STATE_MACHINE_ARN;
    this.machine = new StateMachine(definition as never, { validationOptions: { checkArn: true, checkPaths: true } });
    this.states = definition.States as Record<string, TaskState>;
    this.functionOf = functionOf;
    this.startsExecution = Object.entries(this.states)
      .filter(([, state]) => state.Type === 'Task' && state.Resource === 'arn:aws:states:::states:startExecution')
      .map(([name]) => name);
    this.runsExecution = Object.entries(this.states)
      .filter(
        ([, state]) => state.Type === 'Task' && state.Resource === 'arn:aws:states:::states:startExecution.sync:2',
      )
      .map(([name]) => name);
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

  /**
   * Runs the run's execution to its end, and the executions it continues in (continue-as-new):
   * the outcome is the last one's, with the history counted across all of them.
   */
  async run(
    input: { runId: string; resumeSeq?: number },
    signal?: AbortSignal,
    name = executionNameFor(input.runId, input.resumeSeq === undefined ? 0 : epochForSeq(input.resumeSeq)),
  ): Promise<ExecutionOutcome> {
    let next: { input: Record<string, unknown>; name: string } | undefined = { input, name };
    const total = {
      statesEntered: [] as string[],
      historyEvents: 0,
      largestPayloadBytes: 0,
      executions: 0,
      maxHistoryEvents: 0,
    };
    for (;;) {
      const current: { input: Record<string, unknown>; name: string } = next;
      next = undefined;
      const outcome = await this.runOne(current.input, current.name, (continued) => (next = continued), signal);
      total.statesEntered.push(...outcome.statesEntered);
      total.historyEvents += outcome.historyEvents;
      total.largestPayloadBytes = Math.max(total.largestPayloadBytes, outcome.largestPayloadBytes);
      total.executions += 1;
      total.maxHistoryEvents = Math.max(total.maxHistoryEvents, outcome.historyEvents);
      if (!next || outcome.status !== 'SUCCEEDED') return { ...outcome, ...total };
    }
  }

  private async runOne(
    input: Record<string, unknown>,
    executionName: string,
    continueAs: (next: { input: Record<string, unknown>; name: string }) => void,
    signal?: AbortSignal,
  ): Promise<Omit<ExecutionOutcome, 'executions' | 'maxHistoryEvents'>> {
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
      if (this.options.retryIntervalMs !== undefined)
        retryIntervalOverrides[state] = this.retryOverrides(state, this.options.retryIntervalMs);
    }
    for (const state of this.startsExecution) {
      // states:startExecution of this same machine: recorded, and run when this execution ends.
      overrides[state] = async (parameters) => {
        const { Name, Input } = parameters as { Name: string; Input: Record<string, unknown> };
        await this.options.beforeStartExecution?.(Name, Input, false);
        if (this.executionNames.has(Name))
          throw Object.assign(new Error(`execution ${Name} already exists`), {
            name: 'StepFunctions.ExecutionAlreadyExistsException',
          });
        this.executionNames.add(Name);
        continueAs({ input: Input, name: Name });
        return { ExecutionArn: this.executionArn(Name), StartDate: new Date().toISOString() };
      };
    }
    for (const state of this.runsExecution) {
      overrides[state] = (parameters) =>
        this.runChild(parameters as { Name: string; Input: { runId: string } }, signal);
    }
    const context = {
      StateMachine: { Id: this.stateMachineArn, Name: this.stateMachineArn.split(':').pop() },
      Execution: { Id: this.executionArn(executionName), Name: executionName },
      Task: {
        // A fresh token for every wait, as Step Functions mints one per task.
        get Token() {
          currentToken = randomBytes(32).toString('base64url');
          return currentToken;
        },
      },
    };
    const execution = this.machine.run(input as never, {
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

  /** states:startExecution.sync:2 of this same machine: the child's chain runs here, in-process, and the state waits for it. */
  private async runChild(
    { Name, Input }: { Name: string; Input: { runId: string } },
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    await this.options.beforeStartExecution?.(Name, Input, true);
    if (this.executionNames.has(Name))
      throw Object.assign(new Error(`execution ${Name} already exists`), {
        name: 'StepFunctions.ExecutionAlreadyExistsException',
      });
    this.executionNames.add(Name);
    const progress = await this.options.runProgress?.(Input.runId);
    if (progress?.ended)
      throw Object.assign(new Error(`execution ${Name} already exists`), {
        name: 'StepFunctions.ExecutionAlreadyExistsException',
      });
    const child = await this.run(
      progress && progress.seq > 0 ? { runId: Input.runId, resumeSeq: progress.seq } : { runId: Input.runId },
      signal,
    );
    if (child.status === 'SUCCEEDED')
      return { ExecutionArn: this.executionArn(Name), Status: 'SUCCEEDED', Output: child.output };
    // An ending no Catch handled (States.Runtime, an abort): recorded as the deployed stack's execution-status rule does.
    if (this.options.onChildEnded) await this.options.onChildEnded(Name, child);
    else if (child.error?.name !== 'looprail.RunFailed')
      await this.options.handlers.FailRun({
        runId: Input.runId,
        error: {
          Error: child.status === 'ABORTED' ? 'looprail.ExecutionABORTED' : (child.error?.name ?? 'States.Runtime'),
          Cause: child.error?.message,
        },
      });
    throw Object.assign(
      new Error(`execution ${Name} ended ${child.status}: ${child.error?.name ?? ''} ${child.error?.message ?? ''}`),
      { name: 'States.TaskFailed' },
    );
  }

  private executionArn(name: string): string {
    return `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
  }

  /** One interval per retrier; -1 leaves that retrier's ASL backoff in place. */
  private retryOverrides(state: string, intervalMs: number): number[] {
    return (this.states[state]?.Retry ?? []).map((retrier) =>
      retrier.ErrorEquals.some((name) => WAITS_FOR_OTHERS.has(name)) ? -1 : intervalMs,
    );
  }

  private isWaitForToken(state: string): boolean {
    return this.states[state]?.Resource?.endsWith('.waitForTaskToken') ?? false;
  }

  private async collectHistory(
    events: AsyncGenerator<EventLog>,
  ): Promise<Pick<ExecutionOutcome, 'statesEntered' | 'historyEvents' | 'largestPayloadBytes'>> {
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
