import type { LambdaClient } from '@aws-sdk/client-lambda';
import { onFirstUse } from '../aws/on-first-use.ts';
import {
  ConfigurationError,
  SandboxCallError,
  SandboxUnavailableError,
  TransientError,
  ValidationError,
} from '../../core/errors.ts';
import * as z from '../../core/definitions/zod.ts';
import type { Sandbox, SandboxOpenRequest, SandboxProvider } from '../../core/ports/sandbox.ts';
import { DestroyResponse, type BrokerRequest } from './broker-protocol.ts';
import { openBrokered, parseAnswer } from './brokered.ts';

/**
 * The steps' SandboxProvider on AWS: every sandbox call is one Lambda Invoke of the
 * sandbox broker (functions/sandbox/broker.ts), the only thing in the sandboxes' VPC. The
 * steps hold no token and never reach a sandbox themselves. A script's tool calls come
 * back here between rounds and go through the caller's bridge (grants, approvals,
 * guardrails, tracing), so a tool is never called from inside the VPC.
 */

export interface RemoteSandboxesOptions {
  /** The broker function's name (LOOPRAIL_SANDBOX_BROKER). */
  functionName: string;
  client?: LambdaClient;
  /** Milliseconds since the epoch (tests). */
  now?: () => number;
}

/** How long an opened sandbox is reused without asking the broker again. */
export const OPEN_REUSE_MS = 30_000;

/** What Lambda returns for an error the handler threw. */
const FunctionError = z.object({ errorType: z.optional(z.string()), errorMessage: z.optional(z.string()) });

/** The broker's errors, by the name it threw them with (core/errors.ts). */
const TYPED_ERRORS: Record<string, new (message: string) => Error> = {
  'looprail.SandboxUnavailable': SandboxUnavailableError,
  'looprail.SandboxCall': SandboxCallError,
  'looprail.ValidationError': ValidationError,
  'looprail.TransientError': TransientError,
  'looprail.ConfigurationError': ConfigurationError,
};

/** Lambda's own answers worth another try. */
const TRANSIENT_INVOKE_ERRORS = new Set([
  'TooManyRequestsException',
  'ServiceException',
  'EC2ThrottledException',
  'ResourceNotReadyException',
  'ResourceConflictException',
  'TimeoutError',
]);

async function lambdaClient(): Promise<LambdaClient> {
  return new (await import('@aws-sdk/client-lambda')).LambdaClient({});
}

export class RemoteSandboxes implements SandboxProvider {
  readonly #functionName: string;
  /** Made, and its package imported, at the first sandbox call: most invocations of the steps that may use one make none. */
  readonly #client: () => Promise<LambdaClient>;
  /**
   * Opened sandboxes, for a short while: a turn's parallel calls, and a warm container's
   * next calls, share one `open` invocation instead of paying one before every operation.
   * Each operation's answer refreshes the meter; another container's use shows once this expires.
   */
  readonly #opened = new Map<string, { sandbox: Promise<Sandbox>; until: number }>();
  readonly #now: () => number;

  constructor(options: RemoteSandboxesOptions) {
    this.#functionName = options.functionName;
    this.#client = onFirstUse(lambdaClient, options.client);
    this.#now = options.now ?? Date.now;
  }

  open(request: SandboxOpenRequest): Promise<Sandbox> {
    const cached = this.#opened.get(request.sandboxId);
    if (cached && cached.until > this.#now()) return cached.sandbox;
    // An operation that finds no sandbox (it stopped: idle, lifetime) forgets it, so the next call opens afresh.
    const send = (req: BrokerRequest) =>
      this.#invoke(req).catch((error: unknown) => {
        if (error instanceof SandboxUnavailableError) this.#opened.delete(request.sandboxId);
        throw error;
      });
    const sandbox = openBrokered(send, request);
    this.#opened.set(request.sandboxId, { sandbox, until: this.#now() + OPEN_REUSE_MS });
    // A failed open is not remembered: the next call asks the broker again.
    sandbox.catch(() => this.#opened.delete(request.sandboxId));
    return sandbox;
  }

  async destroy(sandboxId: string): Promise<void> {
    this.#opened.delete(sandboxId);
    parseAnswer(DestroyResponse, await this.#invoke({ op: 'destroy', sandboxId }), 'destroy');
  }

  async #invoke(request: BrokerRequest): Promise<unknown> {
    const [client, { InvokeCommand }] = await Promise.all([this.#client(), import('@aws-sdk/client-lambda')]);
    let output;
    try {
      output = await client.send(
        new InvokeCommand({
          FunctionName: this.#functionName,
          InvocationType: 'RequestResponse',
          Payload: Buffer.from(JSON.stringify(request)),
        }),
      );
    } catch (error) {
      throw this.#invokeError(request.op, error);
    }
    const text = output.Payload ? Buffer.from(output.Payload).toString('utf8') : '';
    let payload: unknown;
    try {
      payload = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new SandboxCallError(`the sandbox broker's answer to ${request.op} is not JSON`);
    }
    if (output.FunctionError) {
      const failure = FunctionError.safeParse(payload);
      const type = failure.success ? failure.data.errorType : undefined;
      const message =
        (failure.success ? failure.data.errorMessage : undefined) ??
        `the sandbox broker failed (${output.FunctionError})`;
      const Typed = type !== undefined && Object.hasOwn(TYPED_ERRORS, type) ? TYPED_ERRORS[type]! : undefined;
      if (Typed) throw new Typed(message);
      // Lambda's own failures (a timeout, out of memory) and anything unexpected: the call did not happen as asked.
      throw new SandboxUnavailableError(
        `the sandbox broker failed on ${request.op}${type ? ` (${type})` : ''}: ${message}`,
      );
    }
    return payload;
  }

  #invokeError(op: string, error: unknown): Error {
    const name = (error as { name?: string } | undefined)?.name ?? 'Error';
    const status = (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
    const detail = `${name}: ${error instanceof Error ? error.message : String(error)}`;
    if (name === 'ResourceNotFoundException')
      return new ConfigurationError(`the sandbox broker function "${this.#functionName}" does not exist (${detail})`);
    if (TRANSIENT_INVOKE_ERRORS.has(name) || status === undefined || status >= 500) {
      return new TransientError(`invoking the sandbox broker for ${op} failed, worth retrying: ${detail}`);
    }
    return new ConfigurationError(
      `the sandbox broker "${this.#functionName}" could not be invoked for ${op}: ${detail}`,
    );
  }
}
