import { SFNClient } from '@aws-sdk/client-sfn';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CANCELLED_ERROR, StepFunctionsExecutionStarter } from '../../adapters/executions/step-functions.ts';
import { ConfigurationError, TransientError } from '../../core/errors.ts';

/**
 * The real AWS SDK client against a small local endpoint that speaks the Step Functions
 * JSON protocol (awsJson1_0, `X-Amz-Target: AWSStepFunctions.<Operation>`) for
 * StartExecution and StopExecution, keeping executions by name as Step Functions does.
 */

const STATE_MACHINE = 'arn:aws:states:us-east-1:123456789012:stateMachine:looprail-agent-run';
const EXECUTION_PREFIX = 'arn:aws:states:us-east-1:123456789012:execution:looprail-agent-run:';

interface Call {
  target: string | undefined;
  body: Record<string, unknown>;
  signed: boolean;
}

describe('StepFunctionsExecutionStarter', () => {
  const calls: Call[] = [];
  const executions = new Map<string, { input: string; status: 'RUNNING' | 'ABORTED' }>();
  /** Names the endpoint answers with an error instead. */
  const failures = new Map<string, { status: number; type: string }>();
  let server: Server;
  let client: SFNClient;
  let starter: StepFunctionsExecutionStarter;

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      let text = '';
      for await (const chunk of req) text += chunk;
      const body = JSON.parse(text) as Record<string, unknown>;
      const target = req.headers['x-amz-target'] as string | undefined;
      calls.push({ target, body, signed: /^AWS4-HMAC-SHA256 /.test(req.headers.authorization ?? '') });
      const reply = (status: number, payload: unknown) =>
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify(payload));
      const fail = (status: number, type: string, message: string) =>
        reply(status, { __type: `com.amazonaws.states#${type}`, message });
      if (target === 'AWSStepFunctions.StartExecution') {
        const name = String(body.name);
        const failure = failures.get(name);
        if (failure) return fail(failure.status, failure.type, `simulated ${failure.type}`);
        if (body.stateMachineArn !== STATE_MACHINE)
          return fail(
            400,
            'StateMachineDoesNotExist',
            `State Machine Does Not Exist: '${String(body.stateMachineArn)}'`,
          );
        if (executions.has(name))
          return fail(400, 'ExecutionAlreadyExists', `Execution Already Exists: '${EXECUTION_PREFIX}${name}'`);
        executions.set(name, { input: String(body.input), status: 'RUNNING' });
        return reply(200, { executionArn: EXECUTION_PREFIX + name, startDate: 1_767_225_600 });
      }
      if (target === 'AWSStepFunctions.StopExecution') {
        const arn = String(body.executionArn);
        const execution = arn.startsWith(EXECUTION_PREFIX)
          ? executions.get(arn.slice(EXECUTION_PREFIX.length))
          : undefined;
        if (!execution) return fail(400, 'ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
        execution.status = 'ABORTED';
        return reply(200, { stopDate: 1_767_225_700 });
      }
      fail(400, 'UnknownOperationException', `unknown operation ${target}`);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    client = new SFNClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' },
      // One attempt: the starter's own error handling is what is under test, not the SDK's retries.
      maxAttempts: 1,
    });
    starter = new StepFunctionsExecutionStarter({ stateMachineArn: STATE_MACHINE, client });
  });

  afterAll(() => {
    client.destroy();
    server.close();
  });

  beforeEach(() => {
    calls.length = 0;
  });

  it('starts one execution named by the run id, with only the run id as input', async () => {
    await starter.start('r-first');
    expect(calls).toEqual([
      {
        target: 'AWSStepFunctions.StartExecution',
        body: { stateMachineArn: STATE_MACHINE, name: 'r-first', input: '{"runId":"r-first"}' },
        signed: true,
      },
    ]);
    expect(executions.get('r-first')).toEqual({ input: '{"runId":"r-first"}', status: 'RUNNING' });
  });

  it('treats an execution that already exists as started: a repeated trigger runs nothing twice', async () => {
    await starter.start('r-twice');
    await expect(starter.start('r-twice')).resolves.toBeUndefined();
    expect(calls.map((call) => call.target)).toEqual([
      'AWSStepFunctions.StartExecution',
      'AWSStepFunctions.StartExecution',
    ]);
    expect([...executions.keys()].filter((name) => name === 'r-twice')).toHaveLength(1);
  });

  it('stops the execution by its ARN, derived from the run id, with the reason as the cause', async () => {
    await starter.start('r-stop');
    calls.length = 0;
    await starter.stop('r-stop', 'cancelled by local:tester through the API');
    expect(calls).toEqual([
      {
        target: 'AWSStepFunctions.StopExecution',
        body: {
          executionArn: `${EXECUTION_PREFIX}r-stop`,
          error: CANCELLED_ERROR,
          cause: 'cancelled by local:tester through the API',
        },
        signed: true,
      },
    ]);
    expect(executions.get('r-stop')?.status).toBe('ABORTED');
    expect(starter.executionArn('r-stop')).toBe(`${EXECUTION_PREFIX}r-stop`);
  });

  it('stopping a run whose execution never started does nothing', async () => {
    await expect(starter.stop('r-never-started', 'cancelled')).resolves.toBeUndefined();
  });

  it('maps throttling and 5xx to TransientError, a missing state machine to ConfigurationError', async () => {
    failures.set('r-throttled', { status: 400, type: 'ThrottlingException' });
    failures.set('r-broken', { status: 500, type: 'InternalServerError' });
    await expect(starter.start('r-throttled')).rejects.toBeInstanceOf(TransientError);
    await expect(starter.start('r-broken')).rejects.toBeInstanceOf(TransientError);
    const elsewhere = new StepFunctionsExecutionStarter({
      stateMachineArn: STATE_MACHINE.replace('looprail-agent-run', 'gone'),
      client,
    });
    const error = await elsewhere.start('r-x').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toContain('StateMachineDoesNotExist');
  });

  it('refuses a state machine ARN it cannot derive execution ARNs from', () => {
    expect(() => new StepFunctionsExecutionStarter({ stateMachineArn: 'looprail-agent-run', client })).toThrow(
      ConfigurationError,
    );
  });
});
