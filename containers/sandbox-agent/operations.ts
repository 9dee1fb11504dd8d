import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { SandboxSpec } from '../../core/definitions/sandbox.ts';
import type * as z from '../../core/definitions/zod.ts';
import { SandboxUnavailableError } from '../../core/errors.ts';
import {
  DiffRequestBody,
  ExecRequestBody,
  InitRequest,
  ListRequestBody,
  ReadRequestBody,
  ScriptResultsBody,
  ScriptStartBody,
  WriteRequestBody,
  type HealthResponse,
  type InitResponse,
  type ScriptEvent,
} from '../../adapters/sandbox/protocol.ts';
import { WorkspaceSandbox } from '../../adapters/sandbox/workspace.ts';
import { HttpError, parse } from './http.ts';
import { UidLauncher } from './launcher.ts';
import type { Lifetime } from './lifetime.ts';
import { clone, extract } from './repository.ts';
import { ScriptSession } from './script-session.ts';

/** Finished scripts kept for a repeated poll (a retried request gets the same answer). */
const KEPT_SCRIPTS = 16;
const SCRIPT_ID = /^s-[0-9a-f]{24}$/;

/** Where the workspace is and who commands run as. */
export interface WorkspaceSetup {
  workspace: string;
  home: string;
  tmp: string;
  uid: number;
  gid: number;
  node: string;
  prlimitPath?: string;
  proxyUrl?: string;
}

interface Ready {
  sandbox: WorkspaceSandbox;
  createdAt: string;
}

type Metered<T> = { value: T; durationMs: number; usedMs: number };

/**
 * The sandbox's operations behind the routes: init once, then exec, files, diff and
 * scripts on the one workspace, each in the lifetime's queue.
 */
export class SandboxOperations {
  #ready: Ready | undefined;
  #initializing: Promise<Ready> | undefined;
  readonly #scripts = new Map<string, ScriptSession>();
  readonly #setup: WorkspaceSetup;
  readonly #lifetime: Lifetime;

  constructor(setup: WorkspaceSetup, lifetime: Lifetime) {
    this.#setup = setup;
    this.#lifetime = lifetime;
  }

  usedMs(): number {
    return this.#ready?.sandbox.usedMs() ?? 0;
  }

  health(): HealthResponse {
    const ready = this.#ready;
    return {
      ready: ready !== undefined,
      usedMs: ready?.sandbox.usedMs() ?? 0,
      ...(ready ? { createdAt: ready.createdAt } : {}),
    };
  }

  async dispatch(op: string, body: unknown, scriptId: string | undefined): Promise<unknown> {
    const serialized = <T>(operation: () => Promise<T>) => this.#lifetime.serialized(operation);
    switch (op) {
      case 'init':
        return this.#init(parse(InitRequest, body));
      case 'exec': {
        const request = parse(ExecRequestBody, body);
        const { sandbox } = this.#requireReady();
        return metered(sandbox, await serialized(() => sandbox.exec(request)));
      }
      case 'read': {
        const request = parse(ReadRequestBody, body);
        const { sandbox } = this.#requireReady();
        return metered(sandbox, await serialized(() => sandbox.readFile(request.path, request.maxBytes)));
      }
      case 'write': {
        const request = parse(WriteRequestBody, body);
        const { sandbox } = this.#requireReady();
        return metered(sandbox, await serialized(() => sandbox.writeFile(request.path, request.content)));
      }
      case 'list': {
        const request = parse(ListRequestBody, body);
        const { sandbox } = this.#requireReady();
        const list = () => sandbox.listFiles(request.path, request.maxDepth, request.maxEntries);
        return metered(sandbox, await serialized(list));
      }
      case 'diff': {
        const request = parse(DiffRequestBody, body);
        const { sandbox } = this.#requireReady();
        return metered(sandbox, await serialized(() => sandbox.diff(request.maxBytes)));
      }
      case 'script_start': {
        const request = parse(ScriptStartBody, body);
        return this.#startScript(request).next(request.waitMs);
      }
      case 'script_results':
        return this.#scriptResults(parse(ScriptResultsBody, body), scriptId!);
      default:
        throw new HttpError(404, 'looprail.NotFound', `no operation ${op}`);
    }
  }

  #requireReady(): Ready {
    if (!this.#ready) {
      throw new HttpError(409, 'looprail.SandboxNotReady', 'the sandbox is not initialized: POST /v1/init first');
    }
    return this.#ready;
  }

  async #init(request: z.output<typeof InitRequest>): Promise<InitResponse> {
    if (!this.#ready) {
      this.#initializing ??= this.#lifetime.serialized(() => this.#prepare(request));
      try {
        this.#ready = await this.#initializing;
      } catch (error) {
        this.#initializing = undefined;
        throw error;
      }
    }
    const ready = this.#ready;
    return { base: ready.sandbox.state.base, usedMs: ready.sandbox.usedMs(), createdAt: ready.createdAt };
  }

  async #prepare(request: z.output<typeof InitRequest>): Promise<Ready> {
    const { workspace, uid, gid, node } = this.#setup;
    // A failed init may have left a half-made workspace: start clean.
    await mkdir(workspace, { recursive: true });
    for (const entry of await readdir(workspace)) await rm(join(workspace, entry), { recursive: true, force: true });
    await chown(workspace, uid, gid);
    await chmod(workspace, 0o700);
    const sandbox = new WorkspaceSandbox({
      launcher: this.#launcherFor(request.spec),
      spec: request.spec,
      workspaceDir: workspace,
      node,
      state: { base: '0'.repeat(40), usedMs: 0, createdAt: new Date().toISOString() },
    });
    const git = await sandbox.run('command -v git', [], { timeoutMs: 30_000, maxBytes: 1024, separate: true });
    if (git.exitCode !== 0) {
      throw new SandboxUnavailableError(
        "the sandbox image has no git (needed for the workspace's base and diff): " +
          `install git in the image ${request.spec.image}`,
      );
    }
    const repository = request.repository;
    if (repository && 'archive' in repository) await extract(sandbox, repository.archive);
    else if (repository) await clone(sandbox, repository.url, repository.ref);
    await sandbox.initialize(request.files);
    return { sandbox, createdAt: sandbox.createdAt };
  }

  #launcherFor(spec: SandboxSpec): UidLauncher {
    const { workspace, home, tmp, uid, gid, prlimitPath, proxyUrl } = this.#setup;
    return new UidLauncher({
      spec,
      workspace,
      home,
      tmp,
      uid,
      gid,
      ...(prlimitPath ? { prlimit: prlimitPath } : {}),
      ...(proxyUrl ? { proxyUrl } : {}),
    });
  }

  #startScript(body: z.output<typeof ScriptStartBody>): ScriptSession {
    const { sandbox } = this.#requireReady();
    const session = new ScriptSession(`s-${randomBytes(12).toString('hex')}`);
    this.#scripts.set(session.id, session);
    const script = { code: body.code, cwd: body.cwd, timeoutSeconds: body.timeoutSeconds };
    this.#lifetime
      .serialized(() => sandbox.runScript(script, session.bridge))
      .then(
        (result) => session.finish({ value: result.value, durationMs: result.durationMs, usedMs: sandbox.usedMs() }),
        (error: unknown) => session.fail(error),
      );
    // Keep a few finished ones for repeated polls; drop the oldest finished beyond that.
    const finished = [...this.#scripts.values()].filter((s) => s.ended);
    for (const old of finished.slice(0, Math.max(0, finished.length - KEPT_SCRIPTS))) this.#scripts.delete(old.id);
    return session;
  }

  #scriptResults(request: z.output<typeof ScriptResultsBody>, scriptId: string): Promise<ScriptEvent> {
    this.#requireReady();
    const session = SCRIPT_ID.test(scriptId) ? this.#scripts.get(scriptId) : undefined;
    if (!session) throw new HttpError(404, 'looprail.NotFound', `no script ${scriptId.slice(0, 64)} in this sandbox`);
    session.answer(request.results);
    return session.next(request.waitMs);
  }
}

function metered<T>(sandbox: WorkspaceSandbox, timed: { value: T; durationMs: number }): Metered<T> {
  return { value: timed.value, durationMs: timed.durationMs, usedMs: sandbox.usedMs() };
}
