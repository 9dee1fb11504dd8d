import { setTimeout as sleep } from 'node:timers/promises';
import type { ECSClient, Task } from '@aws-sdk/client-ecs';
import { S3Client } from '@aws-sdk/client-s3';
import type * as z from '../../core/definitions/zod.ts';
import { errorMessage, SandboxUnavailableError, TransientError } from '../../core/errors.ts';
import { systemClock, type Clock } from '../../core/ports/clock.ts';
import type { SecretStore } from '../../core/ports/secrets.ts';
import type { Sandbox, SandboxOpenRequest, SandboxProvider } from '../../core/ports/sandbox.ts';
import { silentLogger, type Logger } from '../../core/ports/logger.ts';
import { copyInFiles } from '../../core/sandbox/copy-in.ts';
import { ConnectFailed, type Endpoint, requestAgent } from './agent-client.ts';
import { DEFAULT_SANDBOX_SIGNING_SECRET, ENV_AGENT_TOKEN_SHA256 } from './aws-contract.ts';
import { BrokerRequest } from './broker-protocol.ts';
import { oldestFirst } from './ecs-tasks.ts';
import { SandboxTasks } from './fargate-tasks.ts';
import { openBrokered } from './brokered.ts';
import { checkRepository, repositoryForInit } from './copy-in-repository.ts';
import {
  AGENT_PORT,
  DiffResponse,
  ExecResponse,
  HealthResponse,
  InitResponse,
  ListResponse,
  ReadResponse,
  ScriptEvent,
  WriteResponse,
  type InitRequest,
} from './protocol.ts';
import { agentToken, egressToken, egressUser, tokenDigest, withoutTokens } from './tokens.ts';

/**
 * Run sandboxes on AWS: one ECS Fargate task per sandbox (the maker run's id), started on
 * the run's first call, found again by `startedBy` for its later calls, stopped when the
 * run ends. This is the sandbox broker's side (functions/sandbox/broker.ts): the ECS
 * control plane (fargate-tasks.ts), and an HTTP client for the sandbox agent inside each
 * task (agent-client.ts, protocol.ts).
 *
 * The task holds no credential: the broker derives the agent token per sandbox from a key
 * read by name and hands the task only the token's digest; a task whose network is an
 * allowlist also gets its egress proxy credentials (which reach that allowlist, nothing
 * else). Tokens never appear in an error, a log line or an answer.
 */

export interface FargateSandboxesOptions {
  /** The cluster (ARN or name) sandbox tasks run in. */
  cluster: string;
  subnets: string[];
  securityGroups: string[];
  /** An agent's task definition family is this plus the agent's name. */
  taskFamilyPrefix: string;
  /** Where the signing key is read. */
  secrets: SecretStore;
  /** The signing key's name (default looprail/sandbox-signing-key). */
  signingSecret?: string;
  /** The bucket holding `copy_in.repository.path` archives, and each agent's object key. */
  reposBucket?: string;
  repos?: Record<string, string>;
  /** `host:port` of the egress proxy (only agents with a network allowlist use it). */
  egressProxy?: string;
  ecs?: ECSClient;
  s3?: S3Client;
  clock?: Clock;
  log?: Logger;
  /** Where a task's agent listens on its private IP (default AGENT_PORT). Tests run one agent per port. */
  agentPort?: number | ((taskArn: string) => number);
  timing?: Partial<FargateTiming>;
}

export interface FargateTiming {
  /** From RunTask to RUNNING (an image pull included). */
  startTimeoutMs: number;
  /** From RUNNING to the agent's first answer. */
  healthTimeoutMs: number;
  /** Polls start this far apart and back off to maxPollMs. */
  firstPollMs: number;
  maxPollMs: number;
  /** A warm broker reuses a sandbox's address this long before asking ECS again. */
  endpointCacheMs: number;
}

const DEFAULT_TIMING: FargateTiming = {
  startTimeoutMs: 240_000,
  healthTimeoutMs: 120_000,
  firstPollMs: 1000,
  maxPollMs: 5000,
  endpointCacheMs: 60_000,
};
/** On top of a command's own timeout: the agent kills it, then answers. */
const EXEC_MARGIN_MS = 30_000;
/** On top of a script round's long-poll window. */
const SCRIPT_MARGIN_MS = 15_000;
/** Reads, writes, listings, diffs. */
const CALL_TIMEOUT_MS = 120_000;
/** Copy-in: a repository clone may take a while. */
const INIT_TIMEOUT_MS = 600_000;
const HEALTH_TIMEOUT_MS = 5000;
export const STOP_REASON_RUN_ENDED = 'looprail: run ended';

/** A broker request as parsed (defaults applied). */
export type ParsedBrokerRequest = z.output<typeof BrokerRequest>;
type Request = ParsedBrokerRequest;
type OpenRequest = Extract<Request, { op: 'open' }>;

export class FargateSandboxes implements SandboxProvider {
  readonly #options: FargateSandboxesOptions;
  readonly #timing: FargateTiming;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #tasks: SandboxTasks;
  #s3: S3Client | undefined;
  readonly #endpoints = new Map<string, Endpoint>();
  readonly #opening = new Map<string, Promise<{ usedMs: number; createdAt: string }>>();

  constructor(options: FargateSandboxesOptions) {
    this.#options = options;
    this.#timing = { ...DEFAULT_TIMING, ...options.timing };
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log ?? silentLogger;
    this.#tasks = new SandboxTasks({
      cluster: options.cluster,
      subnets: options.subnets,
      securityGroups: options.securityGroups,
      taskFamilyPrefix: options.taskFamilyPrefix,
      ecs: options.ecs,
      clock: this.#clock,
      log: this.#log,
      timing: this.#timing,
    });
    this.#s3 = options.s3;
  }

  /** The port, in-process: the same requests the broker serves, without Lambda between. */
  open(request: SandboxOpenRequest): Promise<Sandbox> {
    return openBrokered((req) => this.handle(BrokerRequest.parse(req)), request);
  }

  async destroy(sandboxId: string): Promise<void> {
    await this.#destroy(sandboxId);
  }

  /** One broker request (already parsed with BrokerRequest). Throws core errors, with messages free of tokens. */
  async handle(req: Request): Promise<unknown> {
    try {
      return await this.#dispatch(req);
    } catch (error) {
      const clean = await this.#clean(error, req);
      this.#log.warn('sandbox request failed', {
        op: req.op,
        sandboxId: req.sandboxId,
        error: clean.name,
        message: clean.message,
      });
      throw clean;
    }
  }

  async #dispatch(req: Request): Promise<unknown> {
    switch (req.op) {
      case 'open':
        return this.#open(req);
      case 'destroy':
        return { stopped: await this.#destroy(req.sandboxId) };
      case 'exec':
        return this.#call(
          req.sandboxId,
          'exec',
          '/v1/exec',
          req.request,
          ExecResponse,
          req.request.timeoutSeconds * 1000 + EXEC_MARGIN_MS,
        );
      case 'read':
        return this.#call(req.sandboxId, 'read', '/v1/read', req.request, ReadResponse, CALL_TIMEOUT_MS);
      case 'write':
        return this.#call(req.sandboxId, 'write', '/v1/write', req.request, WriteResponse, CALL_TIMEOUT_MS);
      case 'list':
        return this.#call(req.sandboxId, 'list', '/v1/list', req.request, ListResponse, CALL_TIMEOUT_MS);
      case 'diff':
        return this.#call(req.sandboxId, 'diff', '/v1/diff', req.request, DiffResponse, CALL_TIMEOUT_MS);
      case 'script_start':
        return this.#call(
          req.sandboxId,
          'script_start',
          '/v1/scripts',
          req.request,
          ScriptEvent,
          req.request.waitMs + SCRIPT_MARGIN_MS,
        );
      case 'script_results':
        return this.#call(
          req.sandboxId,
          'script_results',
          `/v1/scripts/${encodeURIComponent(req.scriptId)}/results`,
          req.request,
          ScriptEvent,
          req.request.waitMs + SCRIPT_MARGIN_MS,
        );
    }
  }

  // ---- open: find or start the task, wait for it, copy in once ----

  #open(req: OpenRequest): Promise<{ usedMs: number; createdAt: string }> {
    // Concurrent first calls in one broker share the start; other brokers meet at RunTask's clientToken.
    let opening = this.#opening.get(req.sandboxId);
    if (!opening) {
      opening = this.#openOnce(req).finally(() => this.#opening.delete(req.sandboxId));
      this.#opening.set(req.sandboxId, opening);
    }
    return opening;
  }

  async #openOnce(req: OpenRequest): Promise<{ usedMs: number; createdAt: string }> {
    // Everything that can be refused without a task is refused before one starts.
    const files = copyInFiles(req.spec, req.input);
    checkRepository(this.#options, req.agent, req.spec);
    const proxy = await this.#proxyEnv(req);
    const token = await this.#agentToken(req.sandboxId);

    const cached = this.#cachedEndpoint(req.sandboxId);
    let health = cached ? await this.#health(cached, token).catch(() => undefined) : undefined;
    if (!health) {
      this.#endpoints.delete(req.sandboxId);
      const endpoint = await this.#startOrFind(req, tokenDigest(token), proxy);
      health = await this.#waitHealthy(req.sandboxId, endpoint, token);
    }
    if (health.ready && health.createdAt) return { usedMs: health.usedMs, createdAt: health.createdAt };
    const repository = await repositoryForInit(this.#options, () => this.#s3Client(), req.agent, req.spec);
    const init: InitRequest = { spec: req.spec, files, ...repository };
    const answer = await this.#call(req.sandboxId, 'init', '/v1/init', init, InitResponse, INIT_TIMEOUT_MS);
    this.#log.info('sandbox ready', { sandboxId: req.sandboxId, agent: req.agent });
    return { usedMs: answer.usedMs, createdAt: answer.createdAt };
  }

  async #startOrFind(req: OpenRequest, digest: string, proxy: Record<string, string>): Promise<Endpoint> {
    const running = await this.#tasks.startOrFind(req, { [ENV_AGENT_TOKEN_SHA256]: digest, ...proxy });
    const endpoint = this.#endpointOf(req.sandboxId, running);
    this.#endpoints.set(req.sandboxId, endpoint);
    return endpoint;
  }

  #endpointOf(sandboxId: string, task: Task): Endpoint {
    const eni = task.attachments?.find((attachment) => attachment.type === 'ElasticNetworkInterface');
    const ip = eni?.details?.find((detail) => detail.name === 'privateIPv4Address')?.value;
    if (!ip)
      throw new SandboxUnavailableError(
        `the sandbox task for run ${sandboxId} is running but has no private IPv4 address (is its task definition awsvpc?)`,
      );
    const port =
      typeof this.#options.agentPort === 'function'
        ? this.#options.agentPort(task.taskArn!)
        : (this.#options.agentPort ?? AGENT_PORT);
    return {
      taskArn: task.taskArn!,
      url: `http://${ip}:${port}`,
      expiresAt: this.#clock.now().getTime() + this.#timing.endpointCacheMs,
    };
  }

  async #waitHealthy(sandboxId: string, endpoint: Endpoint, token: string): Promise<z.output<typeof HealthResponse>> {
    const deadline = performance.now() + this.#timing.healthTimeoutMs;
    let delay = Math.min(this.#timing.firstPollMs, 500);
    for (;;) {
      try {
        return await this.#health(endpoint, token);
      } catch (error) {
        // Only "nobody is listening yet" is worth waiting for; an agent that answers wrongly will not get better.
        if (!(error instanceof ConnectFailed) && !(error instanceof TransientError)) throw error;
        if (performance.now() >= deadline) {
          throw new SandboxUnavailableError(
            `the sandbox agent of run ${sandboxId} did not answer within ${Math.round(this.#timing.healthTimeoutMs / 1000)} s of its task running (${errorMessage(error)})`,
          );
        }
      }
      await sleep(delay);
      delay = Math.min(delay * 2, this.#timing.maxPollMs);
    }
  }

  #health(endpoint: Endpoint, token: string): Promise<z.output<typeof HealthResponse>> {
    const schema = HealthResponse;
    return requestAgent(endpoint, token, {
      what: 'health',
      method: 'GET',
      path: '/v1/health',
      body: undefined,
      schema,
      timeoutMs: HEALTH_TIMEOUT_MS,
    });
  }

  /** HTTP(S)_PROXY for an allowlist (the egress proxy enforces it); nothing at all for `none`. */
  async #proxyEnv(req: OpenRequest): Promise<Record<string, string>> {
    if (req.spec.network === 'none') return {};
    const proxy = this.#options.egressProxy;
    if (!proxy) {
      throw new SandboxUnavailableError(
        `agent ${req.agent} has a network allowlist, but no egress proxy is deployed (LOOPRAIL_SANDBOX_EGRESS_PROXY is unset), so it cannot be enforced; the sandbox is not started`,
      );
    }
    const key = await this.#signingKey();
    const url = `http://${encodeURIComponent(egressUser(req.agent, req.sandboxId))}:${egressToken(key, req.agent, req.sandboxId)}@${proxy}`;
    // Lower-case too: curl and others read only http_proxy.
    return { HTTPS_PROXY: url, HTTP_PROXY: url, https_proxy: url, http_proxy: url };
  }

  // ---- calls to a running sandbox ----

  async #call<T extends z.ZodMiniType>(
    sandboxId: string,
    what: string,
    path: string,
    body: unknown,
    schema: T,
    timeoutMs: number,
  ): Promise<z.output<T>> {
    const token = await this.#agentToken(sandboxId);
    const cached = this.#cachedEndpoint(sandboxId);
    const endpoint = cached ?? (await this.#findRunning(sandboxId));
    const call = { what, method: 'POST', path, body, schema, timeoutMs } as const;
    try {
      return await requestAgent(endpoint, token, call);
    } catch (error) {
      if (!(error instanceof ConnectFailed)) throw error;
      // Nothing was sent: ask ECS where the sandbox is now (a cached address may be stale) and try once more.
      this.#endpoints.delete(sandboxId);
      const fresh = await this.#findRunning(sandboxId);
      try {
        return await requestAgent(fresh, token, call);
      } catch (again) {
        if (again instanceof ConnectFailed) {
          this.#endpoints.delete(sandboxId);
          throw new SandboxUnavailableError(
            `the sandbox of run ${sandboxId} cannot be reached (${again.message}); its task may have stopped`,
          );
        }
        throw again;
      }
    }
  }

  #cachedEndpoint(sandboxId: string): Endpoint | undefined {
    const cached = this.#endpoints.get(sandboxId);
    if (cached && cached.expiresAt > this.#clock.now().getTime()) return cached;
    this.#endpoints.delete(sandboxId);
    return undefined;
  }

  /** A later call: the sandbox must already run (only `open` starts one, it alone knows the spec). */
  async #findRunning(sandboxId: string): Promise<Endpoint> {
    const tasks = oldestFirst(await this.#tasks.live(sandboxId));
    const running = tasks.find((task) => task.lastStatus === 'RUNNING');
    if (!running) {
      throw new SandboxUnavailableError(
        tasks.length > 0
          ? `the sandbox of run ${sandboxId} is not running yet (${tasks[0]!.lastStatus})`
          : `run ${sandboxId} has no running sandbox: it was never opened, or it stopped (its idle or lifetime limit, or the run ended)`,
      );
    }
    const endpoint = this.#endpointOf(sandboxId, running);
    this.#endpoints.set(sandboxId, endpoint);
    return endpoint;
  }

  // ---- teardown ----

  async #destroy(sandboxId: string): Promise<number> {
    this.#endpoints.delete(sandboxId);
    const tasks = await this.#tasks.live(sandboxId);
    for (const task of tasks) await this.#tasks.stop(task.taskArn!, STOP_REASON_RUN_ENDED);
    if (tasks.length > 0) this.#log.info('sandbox stopped', { sandboxId, tasks: tasks.length });
    return tasks.length;
  }

  // ---- S3 ----

  #s3Client(): S3Client {
    this.#s3 ??= new S3Client({});
    return this.#s3;
  }

  // ---- tokens ----

  async #signingKey(): Promise<string> {
    const name = this.#options.signingSecret ?? DEFAULT_SANDBOX_SIGNING_SECRET;
    let key: string;
    try {
      key = await this.#options.secrets.get(name);
    } catch (error) {
      throw new SandboxUnavailableError(`the sandbox signing key could not be read: ${errorMessage(error)}`);
    }
    if (key.length < 16)
      throw new SandboxUnavailableError(`the sandbox signing key (secret "${name}") is too short to sign with`);
    return key;
  }

  async #agentToken(sandboxId: string): Promise<string> {
    return agentToken(await this.#signingKey(), sandboxId);
  }

  /** Whatever failed, its message must not carry a token (an agent's echo, a URL with proxy credentials). */
  async #clean(error: unknown, req: Request): Promise<Error> {
    const tokens: string[] = [];
    try {
      const key = await this.#signingKey();
      tokens.push(key, agentToken(key, req.sandboxId));
      if (req.op !== 'destroy') tokens.push(egressToken(key, req.agent, req.sandboxId));
    } catch {
      // No key, no token derived from it: nothing to scrub.
    }
    return withoutTokens(error, tokens, req.op);
  }
}
