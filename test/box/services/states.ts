import {
  type BoxService,
  type CallContext,
  epoch,
  jsonAnswer,
  jsonBody,
  ServiceError,
  targetOperation,
} from './wire.ts';

/**
 * Step Functions (awsJson 1.0, `AWSStepFunctions.*`): StartExecution and ListExecutions on the
 * state machine, DescribeExecution and StopExecution on the execution, SendTask* on the state
 * machine whose execution issued the token (what AWS checks, though the service reference lists
 * no resource for them); then the box's `SfnBackend`. A backend error whose `name` is an AWS
 * exception name (ExecutionAlreadyExists, TaskTimedOut, InvalidToken…) reaches the SDK as that.
 */

type Awaitable<T> = T | Promise<T>;

/** An execution as the backend describes it (`arn` or `executionArn`; the state machine is read from the ARN if absent). */
export interface ExecutionDescription {
  executionArn?: string;
  arn?: string;
  stateMachineArn?: string;
  name: string;
  status: string;
  startDate: Date;
  stopDate?: Date;
  input?: string;
  output?: string;
  error?: string;
  cause?: string;
}

/** What the box's Step Functions host does for the gateway; throw errors named as AWS names them (ExecutionAlreadyExists…). */
export interface SfnBackend {
  startExecution(request: {
    stateMachineArn: string;
    name?: string;
    input?: string;
  }): Awaitable<{ executionArn: string; startDate: Date }>;
  describeExecution(executionArn: string): Awaitable<ExecutionDescription>;
  stopExecution(executionArn: string, error?: string, cause?: string): Awaitable<{ stopDate: Date }>;
  listExecutions(stateMachineArn: string, statusFilter?: string): Awaitable<ExecutionDescription[]>;
  sendTaskSuccess(taskToken: string, output: string): Awaitable<void>;
  sendTaskFailure(taskToken: string, error?: string, cause?: string): Awaitable<void>;
  sendTaskHeartbeat(taskToken: string): Awaitable<void>;
  /** The state machine whose execution issued this task token (IAM checks SendTask* on it); undefined for a token it never issued. */
  stateMachineOfTaskToken(taskToken: string): string | undefined;
}

const RESOURCE_OF: Record<string, (body: Record<string, any>) => string> = {
  StartExecution: (body) => body.stateMachineArn,
  ListExecutions: (body) => body.stateMachineArn,
  DescribeExecution: (body) => body.executionArn,
  StopExecution: (body) => body.executionArn,
};

export function statesService(backend: SfnBackend | undefined): BoxService {
  return {
    name: 'states',
    signingName: 'states',
    protocol: 'awsJson1_0',
    operation: (request) => targetOperation(request, 'AWSStepFunctions'),
    async handle(operation: string, call: CallContext) {
      if (!backend) throw new ServiceError('UnknownOperationException', 'the box has no Step Functions backend');
      const body = jsonBody(call.request);
      const resourceOf = RESOURCE_OF[operation];
      if (resourceOf) {
        await call.authorize(`states:${operation}`, [String(resourceOf(body) ?? '')]);
      } else if (operation.startsWith('SendTask')) {
        const stateMachine = backend.stateMachineOfTaskToken(String(body.taskToken ?? ''));
        if (!stateMachine) throw new ServiceError('TaskDoesNotExist', 'Task Does Not Exist');
        await call.authorize(`states:${operation}`, [stateMachine]);
      } else {
        throw new ServiceError('UnknownOperationException', `the box does not serve states ${operation}`);
      }
      try {
        return jsonAnswer('awsJson1_0', await run(backend, operation, body));
      } catch (error) {
        if (error instanceof ServiceError) throw error;
        const failure = error as Error;
        throw new ServiceError(
          failure.name && failure.name !== 'Error' ? failure.name : 'InternalFailure',
          failure.message,
        );
      }
    },
  };
}

async function run(backend: SfnBackend, operation: string, body: Record<string, any>): Promise<unknown> {
  switch (operation) {
    case 'StartExecution': {
      const started = await backend.startExecution({
        stateMachineArn: body.stateMachineArn,
        ...(body.name ? { name: body.name } : {}),
        ...(body.input !== undefined ? { input: body.input } : {}),
      });
      return { executionArn: started.executionArn, startDate: epoch(started.startDate) };
    }
    case 'DescribeExecution':
      return describe(await backend.describeExecution(body.executionArn), true);
    case 'StopExecution':
      return { stopDate: epoch((await backend.stopExecution(body.executionArn, body.error, body.cause)).stopDate) };
    case 'ListExecutions': {
      const listed = await backend.listExecutions(body.stateMachineArn, body.statusFilter);
      return { executions: listed.map((each) => describe(each, false)) };
    }
    case 'SendTaskSuccess':
      await backend.sendTaskSuccess(body.taskToken, body.output);
      return {};
    case 'SendTaskFailure':
      await backend.sendTaskFailure(body.taskToken, body.error, body.cause);
      return {};
    default:
      await backend.sendTaskHeartbeat(body.taskToken);
      return {};
  }
}

/** `…:execution:<machine>:<name>` → `…:stateMachine:<machine>`. */
function stateMachineOf(executionArn: string): string {
  const parts = executionArn.split(':');
  return [...parts.slice(0, 5), 'stateMachine', parts[6]].join(':');
}

function describe(execution: ExecutionDescription, full: boolean) {
  const executionArn = execution.executionArn ?? execution.arn ?? '';
  return {
    executionArn,
    stateMachineArn: execution.stateMachineArn ?? stateMachineOf(executionArn),
    name: execution.name,
    status: execution.status,
    startDate: epoch(execution.startDate),
    ...(execution.stopDate ? { stopDate: epoch(execution.stopDate) } : {}),
    ...(full && execution.input !== undefined ? { input: execution.input } : {}),
    ...(full && execution.output !== undefined ? { output: execution.output } : {}),
    ...(full && execution.error !== undefined ? { error: execution.error } : {}),
    ...(full && execution.cause !== undefined ? { cause: execution.cause } : {}),
  };
}
