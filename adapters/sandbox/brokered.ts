import type * as z from '../../core/definitions/zod.ts';
import { errorMessage, SandboxCallError } from '../../core/errors.ts';
import type {
  ExecRequest,
  ExecResult,
  FileRead,
  Sandbox,
  SandboxOpenRequest,
  ScriptRequest,
  ScriptResult,
  ScriptToolResult,
  Timed,
  ToolBridge,
} from '../../core/ports/sandbox.ts';
import { OpenResponse, type BrokerRequest } from './broker-protocol.ts';
import { DiffResponse, ExecResponse, ListResponse, ReadResponse, ScriptEvent, WriteResponse } from './protocol.ts';
import { mapLimited } from '../../core/run/concurrency.ts';

/**
 * A Sandbox (the port) over the broker's requests (broker-protocol.ts): the steps send
 * them through Lambda (remote.ts), the broker's own provider in-process (fargate.ts). One
 * implementation, so both give the same results; every answer is parsed with the
 * protocol's schemas, and each one's `usedMs` (the agent keeps the meter) is kept.
 */

export type BrokerSend = (request: BrokerRequest) => Promise<unknown>;

/** How long one script round may wait for news inside the sandbox (the broker's Lambda must outlast it). */
export const SCRIPT_WAIT_MS = 20_000;
/** Bytes of results one script round hands back, well under a Lambda Invoke's 6 MB request. */
export const ROUND_BYTES = 4 * 1024 * 1024;

interface ScriptCallResult {
  callId: string;
  content: string;
  isError: boolean;
}

/** The next round's results: from the front, up to ROUND_BYTES (always at least one, however big). */
export function takeRound(unsent: ScriptCallResult[]): ScriptCallResult[] {
  let bytes = 0;
  let count = 0;
  while (count < unsent.length) {
    const size = Buffer.byteLength(JSON.stringify(unsent[count]));
    if (count > 0 && bytes + size > ROUND_BYTES) break;
    bytes += size;
    count += 1;
  }
  return unsent.splice(0, count);
}

/** A script's tool calls run through the bridge this many at a time. */
const BRIDGE_CONCURRENCY = 4;

export async function openBrokered(send: BrokerSend, request: SandboxOpenRequest): Promise<Sandbox> {
  const target = { sandboxId: request.sandboxId, agent: request.agent };
  const opened = parseAnswer(
    OpenResponse,
    await send({ op: 'open', ...target, spec: request.spec, input: request.input }),
    'open',
  );
  return new BrokeredSandbox(send, target, opened.usedMs, opened.createdAt);
}

class BrokeredSandbox implements Sandbox {
  readonly #send: BrokerSend;
  readonly #target: { sandboxId: string; agent: string };
  #usedMs: number;
  readonly createdAt: string;

  constructor(send: BrokerSend, target: { sandboxId: string; agent: string }, usedMs: number, createdAt: string) {
    this.#send = send;
    this.#target = target;
    this.#usedMs = usedMs;
    this.createdAt = createdAt;
  }

  usedMs(): number {
    return this.#usedMs;
  }

  async exec(request: ExecRequest): Promise<Timed<ExecResult>> {
    const body = { command: request.command, cwd: request.cwd, timeoutSeconds: request.timeoutSeconds };
    return this.#metered(ExecResponse, await this.#send({ op: 'exec', ...this.#target, request: body }), 'exec');
  }

  async readFile(path: string, maxBytes: number): Promise<Timed<FileRead>> {
    return this.#metered(
      ReadResponse,
      await this.#send({ op: 'read', ...this.#target, request: { path, maxBytes } }),
      'read',
    );
  }

  async writeFile(path: string, content: string): Promise<Timed<{ bytes: number }>> {
    return this.#metered(
      WriteResponse,
      await this.#send({ op: 'write', ...this.#target, request: { path, content } }),
      'write',
    );
  }

  async listFiles(
    path: string,
    maxDepth: number,
    maxEntries: number,
  ): Promise<Timed<{ entries: string[]; truncated: boolean }>> {
    return this.#metered(
      ListResponse,
      await this.#send({ op: 'list', ...this.#target, request: { path, maxDepth, maxEntries } }),
      'list',
    );
  }

  async diff(maxBytes: number): Promise<Timed<FileRead>> {
    return this.#metered(
      DiffResponse,
      await this.#send({ op: 'diff', ...this.#target, request: { maxBytes } }),
      'diff',
    );
  }

  /**
   * Rounds: start the script, then hand back the results of the calls it asks for (run
   * through the bridge, a few at a time) until it is done. A round with nothing to hand
   * back just waits again. Results go back at most ROUND_BYTES a round (a Lambda Invoke
   * carries 6 MB): the rest wait for the next rounds, and the script for them.
   */
  async runScript(request: ScriptRequest, bridge: ToolBridge): Promise<Timed<ScriptResult>> {
    const start = {
      code: request.code,
      cwd: request.cwd,
      timeoutSeconds: request.timeoutSeconds,
      waitMs: SCRIPT_WAIT_MS,
    };
    let event = parseAnswer(
      ScriptEvent,
      await this.#send({ op: 'script_start', ...this.#target, request: start }),
      'script_start',
    );
    const unsent: ScriptCallResult[] = [];
    while (event.state !== 'done') {
      const calls = event.state === 'calls' ? event.calls : [];
      unsent.push(
        ...(await mapLimited(calls, BRIDGE_CONCURRENCY, async (call) => ({
          callId: call.callId,
          ...(await bridged(bridge, call.name, call.arguments)),
        }))),
      );
      const results = takeRound(unsent);
      const scriptId = event.scriptId;
      event = parseAnswer(
        ScriptEvent,
        await this.#send({
          op: 'script_results',
          ...this.#target,
          scriptId,
          request: { results, waitMs: SCRIPT_WAIT_MS },
        }),
        'script_results',
      );
      if (event.scriptId !== scriptId)
        throw new SandboxCallError(`the sandbox answered for script ${event.scriptId} while running ${scriptId}`);
    }
    this.#usedMs = event.usedMs;
    return { value: event.value, durationMs: event.durationMs };
  }

  #metered<T extends z.ZodMiniType<{ value: unknown; durationMs: number; usedMs: number }>>(
    schema: T,
    answer: unknown,
    op: string,
  ): Timed<z.output<T>['value']> {
    const parsed = parseAnswer(schema, answer, op);
    this.#usedMs = parsed.usedMs;
    return { value: parsed.value, durationMs: parsed.durationMs };
  }
}

/** A bridge that throws still gives the script an answer: the call failed, the script goes on. */
async function bridged(bridge: ToolBridge, name: string, args: Record<string, unknown>): Promise<ScriptToolResult> {
  try {
    const result = await bridge({ name, arguments: args });
    return { content: result.content, isError: result.isError };
  } catch (error) {
    return { content: `the tool call failed: ${errorMessage(error)}`, isError: true };
  }
}

export function parseAnswer<T extends z.ZodMiniType>(schema: T, answer: unknown, op: string): z.output<T> {
  const parsed = schema.safeParse(answer);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || '(answer)'}: ${issue.message}`)
    .join('; ');
  throw new SandboxCallError(`the sandbox's answer to ${op} is not what the protocol says (${issues})`);
}
