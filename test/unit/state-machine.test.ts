import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigurationError, ContextTooLongError, RETRYABLE_ERROR_NAMES } from '../../core/errors.ts';
import { STEP_FUNCTION_NAMES, stepFunctionPlaceholder } from '../../core/definitions/steps.ts';
import { STEP_SECONDS } from '../../core/run/tool-turn.ts';
import { STEP_SPECS } from '../../infra/constructs/step-functions.ts';

/** Static checks of the ASL that both hosts run (statemachines/agent-run.asl.json). */

interface State {
  Type: string;
  Resource?: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: Array<{ Next: string }>;
  TimeoutSeconds?: number;
  TimeoutSecondsPath?: string;
  Retry?: Array<{ ErrorEquals: string[]; MaxAttempts?: number; BackoffRate?: number }>;
  Catch?: Array<{ ErrorEquals: string[]; Next: string; ResultPath?: string }>;
  Parameters?: { FunctionName?: string; Payload?: Record<string, string> };
}

const text = readFileSync('statemachines/agent-run.asl.json', 'utf8');
const asl = JSON.parse(text) as { StartAt: string; States: Record<string, State>; QueryLanguage?: string };
const tasks = Object.entries(asl.States).filter(([, state]) => state.Type === 'Task');

describe('the agent-run state machine', () => {
  it('is JSONPath (the local interpreter does not evaluate JSONata)', () => {
    expect(asl.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
    expect(text).not.toMatch(/\{%/);
  });

  it('has one placeholder per step function, and every step function is used', () => {
    const placeholders = [...text.matchAll(/\$\{(\w+)FunctionArn\}/g)].map((m) => m[1]);
    expect(new Set(placeholders)).toEqual(new Set(STEP_FUNCTION_NAMES));
  });

  it('invokes a step function from the record in each Lambda Task, and each one from some Task', () => {
    const lambdaTasks = tasks.filter(([, state]) => state.Resource?.startsWith('arn:aws:states:::lambda:invoke'));
    const invoked = lambdaTasks.map(([, state]) => state.Parameters?.FunctionName);
    const known = new Set(STEP_FUNCTION_NAMES.map((name) => `\${${stepFunctionPlaceholder(name)}}`));
    for (const functionName of invoked) expect(known, String(functionName)).toContain(functionName);
    expect(new Set(invoked)).toEqual(known);
  });

  it('gives every Task an explicit timeout (the local engine defaults to 60 s)', () => {
    for (const [name, state] of tasks) {
      expect(state.TimeoutSeconds ?? state.TimeoutSecondsPath, name).toBeDefined();
    }
  });

  it("gives the model and tool steps the time a ModelStep reckons with before it makes its turn's calls", () => {
    // A ModelStep makes the calls only if they end in time (core/run/tool-turn.ts): that time
    // is the state's and its function's.
    for (const name of ['ModelStep', 'ToolStep'] as const) {
      expect(asl.States[name]!.TimeoutSeconds, name).toBe(STEP_SECONDS);
      expect(STEP_SPECS[name].timeout.toSeconds(), name).toBe(STEP_SECONDS);
    }
  });

  it('retries transient errors with backoff on every Task that runs a handler', () => {
    for (const [name, state] of tasks.filter(([, state]) =>
      state.Resource?.startsWith('arn:aws:states:::lambda:invoke'),
    )) {
      const matched = state.Retry?.flatMap((retry) => retry.ErrorEquals) ?? [];
      for (const error of [...RETRYABLE_ERROR_NAMES, 'Lambda.ServiceException', 'Lambda.TooManyRequestsException']) {
        expect(matched, `${name} retries ${error}`).toContain(error);
      }
      for (const retry of state.Retry!) expect(retry.BackoffRate ?? 1, name).toBeGreaterThanOrEqual(2);
    }
  });

  it('retries the start of an execution (continue-as-new, a delegated child) on the errors Step Functions reports for it', () => {
    // The startExecution integrations report `StepFunctions.` and the SDK exception's name, as Lambda's are
    // `Lambda.<name>`: StartExecution's own errors, and the SDK's service, client and timeout exceptions.
    const reported = new Set(
      [
        'ExecutionAlreadyExists',
        'ExecutionLimitExceeded',
        'InvalidArn',
        'InvalidExecutionInput',
        'InvalidName',
        'StateMachineDeleting',
        'StateMachineDoesNotExist',
        'AWSStepFunctions',
        'SdkClient',
        'ClientExecutionTimeout',
      ].map((name) => `StepFunctions.${name}Exception`),
    );
    const transient = [
      'StepFunctions.ExecutionLimitExceededException',
      'StepFunctions.AWSStepFunctionsException',
      'StepFunctions.SdkClientException',
      'StepFunctions.ClientExecutionTimeoutException',
    ];
    for (const name of ['ContinueAsNew', 'Delegate']) {
      const state = asl.States[name]!;
      const retried = state.Retry!.flatMap((retry) => retry.ErrorEquals);
      for (const error of transient) expect(retried, `${name} retries ${error}`).toContain(error);
      for (const retry of state.Retry!) expect(retry.BackoffRate ?? 1, name).toBeGreaterThanOrEqual(2);
    }
    // Every StepFunctions error any state names is one Step Functions reports (a misspelt name matches nothing).
    const named = Object.values(asl.States).flatMap((state) =>
      [...(state.Retry ?? []), ...(state.Catch ?? [])].flatMap((entry) => entry.ErrorEquals),
    );
    for (const error of named.filter((each) => each.startsWith('StepFunctions.')))
      expect(reported, error).toContain(error);
  });

  it('retries no configuration error: a prompt over the window is compacted in the step, or ends the run', () => {
    const retried = tasks.flatMap(([, state]) => state.Retry?.flatMap((retry) => retry.ErrorEquals) ?? []);
    for (const error of [new ConfigurationError('x'), new ContextTooLongError('x')]) {
      expect(retried).not.toContain(error.name);
    }
    expect(RETRYABLE_ERROR_NAMES).not.toContain(new ContextTooLongError('x').name);
  });

  it('catches everything on every Task except FailRun itself (and Delegate, below), keeping the run id', () => {
    for (const [name, state] of tasks) {
      if (name === 'FailRun' || name === 'Delegate') continue;
      const catchAll = state.Catch?.find((c) => c.ErrorEquals.includes('States.ALL'));
      expect(catchAll?.Next, name).toBe('FailRun');
      expect(catchAll?.ResultPath, name).toBe('$.error');
    }
  });

  it('passes only ids and control fields between states', () => {
    for (const [name, state] of tasks) {
      // The ToolStep takes the control it follows as it is (its messageCount is optional, which a path cannot be).
      if (name === 'ToolStep') {
        expect((state.Parameters as Record<string, unknown>)['Payload.$'], name).toBe('$');
        continue;
      }
      const keys = Object.keys(state.Parameters?.Payload ?? {});
      expect(
        keys.every((key) => ['runId.$', 'seq.$', 'taskToken.$', 'error.$', 'execution.$'].includes(key)),
        `${name}: ${keys.join(', ')}`,
      ).toBe(true);
    }
  });

  it('makes a model call with its tool calls in 3 transitions: ModelStep → Route → ToolStep → ModelStep', () => {
    expect(asl.States.ModelStep!.Next).toBe('Route');
    expect(asl.States.Route!.Choices!.map((c) => c.Next)).toContain('ToolStep');
    expect(asl.States.ToolStep!.Next).toBe('ModelStep');
  });

  it('waits for approvals with a task token and a timeout from the definition', () => {
    const approval = asl.States.RequestApproval!;
    expect(approval.Resource).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
    expect(approval.TimeoutSecondsPath).toBe('$.approvalTimeoutSeconds');
    expect(approval.Catch!.find((c) => c.ErrorEquals.includes('States.Timeout'))!.Next).toBe('ApprovalExpired');
  });

  it('reaches every state from StartAt, and every path ends', () => {
    const reached = new Set<string>();
    const visit = (name: string) => {
      if (reached.has(name)) return;
      reached.add(name);
      const state = asl.States[name];
      expect(state, `state ${name} exists`).toBeDefined();
      const next = [
        state!.Next,
        state!.Default,
        ...(state!.Choices ?? []).map((c) => c.Next),
        ...(state!.Catch ?? []).map((c) => c.Next),
      ];
      for (const target of next) if (target) visit(target);
    };
    visit(asl.StartAt);
    expect([...reached].sort()).toEqual(Object.keys(asl.States).sort());
    const terminal = Object.entries(asl.States)
      .filter(([, s]) => s.End || s.Type === 'Succeed' || s.Type === 'Fail')
      .map(([n]) => n);
    expect(terminal.sort()).toEqual(['Continued', 'FinishRun', 'RunFailed', 'RunStopped']);
  });

  it('continues a long run in a new execution of itself, carrying only the run id and seq', () => {
    const route = asl.States.Route!.Choices!.find(
      (choice) => (choice as { StringEquals?: string }).StringEquals === 'continue',
    );
    expect(route?.Next).toBe('ContinueAsNew');
    const state = asl.States.ContinueAsNew as State & { Parameters: Record<string, unknown> };
    expect(state.Resource).toBe('arn:aws:states:::states:startExecution');
    expect(state.Parameters['StateMachineArn.$']).toBe('$$.StateMachine.Id');
    expect(Object.keys(state.Parameters.Input as object).sort()).toEqual([
      'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$',
      'resumeSeq.$',
      'runId.$',
    ]);
    expect(state.Next).toBe('Continued');
    expect(asl.States.Continued!.Type).toBe('Succeed');
    // A start that went through before a retry is not an error; anything else is recorded by FailRun.
    expect(state.Catch!.map((c) => [c.ErrorEquals[0], c.Next])).toEqual([
      ['StepFunctions.ExecutionAlreadyExistsException', 'Continued'],
      ['States.ALL', 'FailRun'],
    ]);
    // The steps that decide it know which execution they are in.
    for (const name of ['ModelStep', 'Verify'])
      expect(asl.States[name]!.Parameters!.Payload!['execution.$'], name).toBe('$$.Execution.Name');
  });

  it('runs a delegated sub-agent as a child execution of itself and waits for it, its outcome a tool result, never the parent failing', () => {
    const route = asl.States.Route!.Choices!.find(
      (choice) => (choice as { StringEquals?: string }).StringEquals === 'delegate',
    );
    expect(route?.Next).toBe('Delegate');
    const state = asl.States.Delegate as State & { Parameters: Record<string, unknown>; ResultPath?: unknown };
    expect(state.Resource).toBe('arn:aws:states:::states:startExecution.sync:2');
    expect(state.Parameters['StateMachineArn.$']).toBe('$$.StateMachine.Id');
    expect(state.Parameters['Name.$']).toBe('$.childRunId');
    expect(state.Parameters.Input).toEqual({
      'runId.$': '$.childRunId',
      'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id',
    });
    // The child's output is not carried: the ToolStep reads its run record.
    expect(state.ResultPath).toBeNull();
    expect(state.TimeoutSeconds).toBeGreaterThanOrEqual(86_400);
    // Back to the step that handed the child over: the ToolStep, or Verify for the checker (returnTo: verify).
    expect(state.Next).toBe('Delegated');
    expect(state.Catch!.map((c) => [c.ErrorEquals[0], c.Next, c.ResultPath])).toEqual([
      ['StepFunctions.ExecutionAlreadyExistsException', 'Delegated', '$.error'],
      ['States.ALL', 'Delegated', '$.error'],
    ]);
    const after = asl.States.Delegated!;
    expect(after.Type).toBe('Choice');
    // returnTo is absent after a sub-agent's execution: tested for presence first, never read when missing.
    expect(after.Choices).toEqual([
      {
        And: [
          { Variable: '$.returnTo', IsPresent: true },
          { Variable: '$.returnTo', StringEquals: 'verify' },
        ],
        Next: 'Verify',
      },
    ]);
    expect(after.Default).toBe('ToolStep');
    // Only a delegation enters it: the ordinary loop's transitions are unchanged.
    const into = Object.entries(asl.States).filter(([, s]) =>
      [s.Next, s.Default, ...(s.Choices ?? []).map((c) => c.Next), ...(s.Catch ?? []).map((c) => c.Next)].includes(
        'Delegated',
      ),
    );
    expect([...new Set(into.map(([n]) => n))]).toEqual(['Delegate']);
    // Only start failures are retried: a child that ran and failed is an outcome, not a fault.
    expect(state.Retry!.flatMap((retry) => retry.ErrorEquals)).not.toContain('States.TaskFailed');
    expect(state.Retry!.flatMap((retry) => retry.ErrorEquals)).not.toContain('States.ALL');
  });
});
