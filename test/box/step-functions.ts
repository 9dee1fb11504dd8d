import { type ExecutionOutcome, LocalExecutor, loadDefinition } from '../../cli/local/executor.ts';
import { STEP_FUNCTION_NAMES, type StepFunctionName } from '../../core/definitions/steps.ts';
import type { BoxLambdas } from './lambdas.ts';
import type { BoxIam } from './model.ts';
import type { BoxTemplate } from './template.ts';

/**
 * Step Functions in a box: the definition cdk.out holds (the one the template deploys, with
 * its DefinitionSubstitutions), run on aws-local-stepfunctions. Every Lambda task invokes
 * the function's bundle after the state machine's role is authorized for it, executions
 * started by other executions (continue-as-new, `.sync:2` children) need the role's
 * states grants, and every ending outside the machine becomes the status-change event the
 * stack's rules match. It answers the Step Functions API calls the bundles make.
 */

export interface BoxExecution {
  arn: string;
  name: string;
  input: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  startDate: Date;
  stopDate?: Date;
  output?: string;
  error?: string;
  cause?: string;
  done: Promise<ExecutionOutcome>;
  abort: AbortController;
}

export interface StatusChangeEvent {
  source: 'aws.states';
  'detail-type': 'Step Functions Execution Status Change';
  resources: string[];
  detail: Record<string, unknown>;
}

const NAME = /^[A-Za-z0-9_-]{1,80}$/;

function serviceError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name });
}

export class BoxStepFunctions {
  readonly executions = new Map<string, BoxExecution>();
  readonly stateMachineArn: string;
  private readonly roleArn: string;
  private readonly executor: LocalExecutor;
  private readonly options: {
    template: BoxTemplate;
    lambdas: BoxLambdas;
    iam: BoxIam;
    onStatusChange(event: StatusChangeEvent): Promise<void>;
    retryIntervalMs?: number;
  };

  constructor(options: BoxStepFunctions['options']) {
    this.options = options;
    const { template } = options;
    const [logicalId] = template.ofType('AWS::StepFunctions::StateMachine');
    if (!logicalId) throw new Error('the template has no state machine');
    const p = template.properties(logicalId);
    this.stateMachineArn = template.ref(logicalId);
    this.roleArn = String(p.RoleArn);
    const substitutions = (p.DefinitionSubstitutions ?? {}) as Record<string, string>;
    const arnOf = (name: StepFunctionName): string => {
      const arn = substitutions[`${name}FunctionArn`];
      if (!arn) throw new Error(`the state machine has no substitution ${name}FunctionArn`);
      return arn;
    };
    const definitionPath = template.assetPath(String(p.DefinitionS3Location?.Key));
    const handlers = Object.fromEntries(
      STEP_FUNCTION_NAMES.map((name) => [name, (payload: unknown) => this.invokeTask(arnOf(name), payload)]),
    ) as Record<StepFunctionName, (payload: unknown) => Promise<unknown>>;
    this.executor = new LocalExecutor({
      handlers,
      definition: loadDefinition(definitionPath, arnOf),
      stateMachineArn: this.stateMachineArn,
      retryIntervalMs: options.retryIntervalMs,
      beforeStartExecution: (name, _input, sync) => this.authorizeStart(name, sync),
      onChildEnded: (name, outcome) => this.announce(this.executionArn(name), name, outcome),
    });
  }

  /** StartExecution, as a bundle (a trigger, the HTTP app) calls it. */
  startExecution(request: { stateMachineArn: string; name?: string; input?: string }): {
    executionArn: string;
    startDate: Date;
  } {
    if (request.stateMachineArn !== this.stateMachineArn)
      throw serviceError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${request.stateMachineArn}'`);
    const name = request.name ?? crypto.randomUUID();
    if (!NAME.test(name)) throw serviceError('InvalidName', `Invalid Name: '${name}'`);
    const arn = this.executionArn(name);
    if (this.executions.has(arn)) throw serviceError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
    const input = request.input ?? '{}';
    const abort = new AbortController();
    const execution: BoxExecution = {
      arn,
      name,
      input,
      status: 'RUNNING',
      startDate: new Date(),
      abort,
      done: this.executor.run(JSON.parse(input), abort.signal, name).then(async (outcome) => {
        execution.stopDate = new Date();
        execution.status = outcome.status;
        if (outcome.status === 'SUCCEEDED') execution.output = JSON.stringify(outcome.output ?? null);
        execution.error = outcome.error?.name;
        execution.cause = outcome.error?.message;
        if (outcome.status !== 'SUCCEEDED') await this.announce(arn, name, outcome);
        return outcome;
      }),
    };
    this.executions.set(arn, execution);
    return { executionArn: arn, startDate: execution.startDate };
  }

  describeExecution(executionArn: string): BoxExecution {
    const execution = this.executions.get(executionArn);
    if (!execution) throw serviceError('ExecutionDoesNotExist', `Execution Does Not Exist: '${executionArn}'`);
    return execution;
  }

  stopExecution(executionArn: string): { stopDate: Date } {
    const execution = this.describeExecution(executionArn);
    execution.abort.abort();
    return { stopDate: new Date() };
  }

  listExecutions(stateMachineArn: string, statusFilter?: string): BoxExecution[] {
    if (stateMachineArn !== this.stateMachineArn)
      throw serviceError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
    return [...this.executions.values()].filter((each) => !statusFilter || each.status === statusFilter);
  }

  sendTaskSuccess(taskToken: string, output: string): void {
    this.withToken(taskToken, () => this.executor.sendTaskSuccess(taskToken, JSON.parse(output)));
  }

  sendTaskFailure(taskToken: string, error = '', cause = ''): void {
    this.withToken(taskToken, () => this.executor.sendTaskFailure(taskToken, error, cause));
  }

  sendTaskHeartbeat(taskToken: string): void {
    this.withToken(taskToken, () => undefined);
  }

  /** The state machine whose execution waits on this token (IAM checks SendTask* on it). */
  stateMachineOfTaskToken(taskToken: string): string | undefined {
    return this.executor.pendingTokens().includes(taskToken) ? this.stateMachineArn : undefined;
  }

  pendingTokens(): string[] {
    return this.executor.pendingTokens();
  }

  /** Every execution started so far, ended. */
  async settled(): Promise<void> {
    for (;;) {
      const running = [...this.executions.values()].filter((each) => each.status === 'RUNNING');
      if (running.length === 0) return;
      await Promise.all(running.map((each) => each.done));
    }
  }

  private withToken(token: string, send: () => void): void {
    if (!this.executor.pendingTokens().includes(token)) throw serviceError('TaskDoesNotExist', 'Task Does Not Exist');
    send();
  }

  /** A Lambda task state: the machine's role must be allowed to invoke the function, then the bundle runs. */
  private async invokeTask(functionArn: string, payload: unknown): Promise<unknown> {
    await this.check('lambda:InvokeFunction', [functionArn]);
    const result = await this.options.lambdas.invoke(functionArn, payload);
    if (result.ok) return result.payload;
    // What Step Functions makes of a function error: Error is its type, Cause the JSON Lambda returned.
    throw serviceError(result.error.errorType, JSON.stringify(result.error));
  }

  /** What starting an execution from a Task state needs of the role (`.sync:2` also watches and stops it). */
  private async authorizeStart(name: string, sync: boolean): Promise<void> {
    await this.check('states:StartExecution', [this.stateMachineArn]);
    if (!sync) return;
    const executionArn = this.executionArn(name);
    await this.check('states:DescribeExecution', [executionArn]);
    await this.check('states:StopExecution', [executionArn]);
    const { accountId, partition, region } = this.options.template.account;
    const rule = `arn:${partition}:events:${region}:${accountId}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule`;
    for (const action of ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'])
      await this.check(action, [rule]);
  }

  private async check(action: string, resources: string[]): Promise<void> {
    const { accessKeyId } = this.options.iam.credentialsFor(this.roleArn);
    const verdict = await this.options.iam.authorize({ accessKeyId, action, resources });
    if (!verdict.allowed)
      throw serviceError(
        'States.TaskFailed',
        `AccessDenied: ${verdict.principalArn} is not authorized to perform: ${action} on resource: ${resources.join(', ')}`,
      );
  }

  private async announce(executionArn: string, name: string, outcome: ExecutionOutcome): Promise<void> {
    await this.options.onStatusChange({
      source: 'aws.states',
      'detail-type': 'Step Functions Execution Status Change',
      resources: [executionArn],
      detail: {
        executionArn,
        stateMachineArn: this.stateMachineArn,
        name,
        status: outcome.status,
        error: outcome.error?.name ?? null,
        cause: outcome.error?.message ?? null,
      },
    });
  }

  private executionArn(name: string): string {
    return `${this.stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
  }
}
