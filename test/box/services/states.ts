import { type BoxService, type CallContext, epoch, jsonAnswer, jsonBody, ServiceError, targetOperation } from './wire.ts';

/**
 * Step Functions (awsJson 1.0, `AWSStepFunctions.*`): StartExecution and ListExecutions on the
 * state machine, DescribeExecution and StopExecution on the execution, SendTask* on the state
 * machine whose execution issued the token (what AWS checks, though the service reference lists
 * no resource for them); then the box's `SfnBackend`. A backend error whose `name` is an AWS
 * exception name (ExecutionAlreadyExists, TaskTimedOut, InvalidToken…) reaches the SDK as that.
 */

export interface ExecutionDescription {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'PENDING_REDRIVE';
  startDate: Date;
  stopDate?: Date;
  input?: string;
  output?: string;
  error?: string;
  cause?: string;
}

export interface SfnBackend {
  startExecution(input: {
    stateMachineArn: string;
    name?: string;
    input?: string;
  }): Promise<{ executionArn: string; startDate: Date }>;
  describeExecution(executionArn: string): Promise<ExecutionDescription>;
  stopExecution(input: { executionArn: string; error?: string; cause?: string }): Promise<{ stopDate: Date }>;
  sendTaskSuccess(input: { taskToken: string; output: string }): Promise<void>;
  sendTaskFailure(input: { taskToken: string; error?: string; cause?: string }): Promise<void>;
  sendTaskHeartbeat(input: { taskToken: string }): Promise<void>;
  listExecutions(input: {
    stateMachineArn: string;
    statusFilter?: string;
    maxResults?: number;
    nextToken?: string;
  }): Promise<{ executions: ExecutionDescription[]; nextToken?: string }>;
  /** The state machine whose execution issued this task token; undefined for a token it never issued. */
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
        if (!stateMachine) throw new ServiceError('InvalidToken', 'Invalid Token');
        await call.authorize(`states:${operation}`, [stateMachine]);
      } else {
        throw new ServiceError('UnknownOperationException', `the box does not serve states ${operation}`);
      }
      try {
        return jsonAnswer('awsJson1_0', await run(backend, operation, body));
      } catch (error) {
        if (error instanceof ServiceError) throw error;
        const failure = error as Error;
        throw new ServiceError(failure.name && failure.name !== 'Error' ? failure.name : 'InternalFailure', failure.message);
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
      return describe(await backend.describeExecution(body.executionArn));
    case 'StopExecution':
      return { stopDate: epoch((await backend.stopExecution(body as { executionArn: string })).stopDate) };
    case 'ListExecutions': {
      const listed = await backend.listExecutions(body as { stateMachineArn: string });
      return {
        executions: listed.executions.map((each) => ({
          executionArn: each.executionArn,
          stateMachineArn: each.stateMachineArn,
          name: each.name,
          status: each.status,
          startDate: epoch(each.startDate),
          ...(each.stopDate ? { stopDate: epoch(each.stopDate) } : {}),
        })),
        ...(listed.nextToken ? { nextToken: listed.nextToken } : {}),
      };
    }
    case 'SendTaskSuccess':
      await backend.sendTaskSuccess(body as { taskToken: string; output: string });
      return {};
    case 'SendTaskFailure':
      await backend.sendTaskFailure(body as { taskToken: string });
      return {};
    default:
      await backend.sendTaskHeartbeat(body as { taskToken: string });
      return {};
  }
}

function describe(execution: ExecutionDescription) {
  return {
    executionArn: execution.executionArn,
    stateMachineArn: execution.stateMachineArn,
    name: execution.name,
    status: execution.status,
    startDate: epoch(execution.startDate),
    ...(execution.stopDate ? { stopDate: epoch(execution.stopDate) } : {}),
    ...(execution.input !== undefined ? { input: execution.input } : {}),
    ...(execution.output !== undefined ? { output: execution.output } : {}),
    ...(execution.error !== undefined ? { error: execution.error } : {}),
    ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
  };
}
