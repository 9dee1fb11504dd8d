import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { McpServerDeclaration } from '../../core/definitions/org.ts';
import { ConfigurationError, ToolUnavailableError } from '../../core/errors.ts';
import type { ToolCallResult, ToolDescriptor } from '../../core/ports/tools.ts';
import { decodeError, type HostRequest, type HostResponse, type McpHostNames } from './host-protocol.ts';

/**
 * The caller's side of the MCP hosts on AWS: a server with a host function is reached by
 * one Lambda Invoke per request (host-protocol.ts) instead of a child process, with the
 * client it is given: the agent's own credentials, whose role alone may invoke the hosts
 * of that agent's servers.
 */

/** What McpToolGateway asks of a hosted server. */
export interface McpHosts {
  has(server: string): boolean;
  listTools(server: McpServerDeclaration): Promise<ToolDescriptor[]>;
  callTool(
    server: McpServerDeclaration,
    tool: string,
    args: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<ToolCallResult>;
}

const STATE_PLACEHOLDER = '${LOOPRAIL_STATE_DIR}';

/** Lambda's own answers worth another try (throttled, e.g. a stateful host's one container busy). */
const TRANSIENT_INVOKE_ERRORS = new Set([
  'TooManyRequestsException',
  'ServiceException',
  'EC2ThrottledException',
  'ResourceNotReadyException',
  'ResourceConflictException',
  'SubnetIPAddressLimitReachedException',
  'ENILimitReachedException',
]);

export class LambdaMcpHosts implements McpHosts {
  readonly #names: McpHostNames;
  readonly #client: () => LambdaClient | Promise<LambdaClient>;
  /** The last call in flight per stateful server: its host runs one container at a time (reserved concurrency 1). */
  readonly #queues = new Map<string, Promise<unknown>>();

  /** `client` is called on first use, so a step that never reaches a hosted server builds none. */
  constructor(names: McpHostNames, client: () => LambdaClient | Promise<LambdaClient>) {
    this.#names = names;
    this.#client = client;
  }

  has(server: string): boolean {
    return Object.hasOwn(this.#names, server);
  }

  async listTools(server: McpServerDeclaration): Promise<ToolDescriptor[]> {
    const answer = await this.#invoke(server.name, { op: 'listTools' });
    if (!('tools' in answer)) throw this.#malformed(server.name, 'listTools');
    return answer.tools;
  }

  async callTool(
    server: McpServerDeclaration,
    tool: string,
    args: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<ToolCallResult> {
    const request: HostRequest = { op: 'callTool', name: tool, arguments: args, timeoutMs };
    const answer = await this.#inTurn(server, () => this.#invoke(server.name, request));
    if (!('result' in answer)) throw this.#malformed(server.name, tool);
    return { content: answer.result.content, isError: answer.result.isError };
  }

  /**
   * A stateful server's calls from this step go one after another, so parallel calls of one
   * turn do not throttle each other on its single container (and a throttled write is never
   * reported to the model as "may have acted").
   */
  #inTurn<T>(server: McpServerDeclaration, call: () => Promise<T>): Promise<T> {
    if (!JSON.stringify(server.transport).includes(STATE_PLACEHOLDER)) return call();
    const previous = this.#queues.get(server.name) ?? Promise.resolve();
    const next = previous.then(call, call);
    const settled = next.catch(() => {});
    this.#queues.set(server.name, settled);
    void settled.then(() => {
      if (this.#queues.get(server.name) === settled) this.#queues.delete(server.name);
    });
    return next;
  }

  async #invoke(server: string, request: HostRequest): Promise<HostResponse & { ok: true }> {
    const functionName = this.#names[server];
    if (functionName === undefined) throw new ConfigurationError(`MCP server "${server}" has no host function`);
    const { InvokeCommand } = await import('@aws-sdk/client-lambda');
    const client = await this.#client();
    let output;
    try {
      output = await client.send(
        new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(request)) }),
      );
    } catch (error) {
      throw invokeError(server, functionName, error);
    }
    const text = output.Payload ? Buffer.from(output.Payload).toString('utf8') : '';
    if (output.FunctionError) {
      // Lambda's own failure (a timeout, out of memory, a crash): the server may answer on the next try.
      throw new ToolUnavailableError(
        `MCP server "${server}": its host failed (${output.FunctionError}): ${text.slice(0, 500)}`,
      );
    }
    let answer: HostResponse;
    try {
      answer = JSON.parse(text) as HostResponse;
    } catch {
      throw this.#malformed(server, request.op);
    }
    if (answer.ok === false) throw decodeError(answer.error);
    return answer;
  }

  #malformed(server: string, what: string): Error {
    return new ToolUnavailableError(`MCP server "${server}": its host answered ${what} outside the protocol`);
  }
}

function invokeError(server: string, functionName: string, error: unknown): Error {
  const name = (error as { name?: string } | undefined)?.name ?? 'Error';
  const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  const detail = `${name}: ${error instanceof Error ? error.message : String(error)}`;
  if (TRANSIENT_INVOKE_ERRORS.has(name) || status === undefined || status >= 500) {
    return new ToolUnavailableError(`MCP server "${server}": invoking its host failed, worth retrying: ${detail}`);
  }
  // Not there, or not ours to invoke: no retry changes the stack's wiring.
  return new ConfigurationError(`MCP server "${server}": its host "${functionName}" could not be invoked: ${detail}`);
}
