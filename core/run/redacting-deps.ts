import type { KnownSecrets } from '../guardrails/known-secrets.ts';
import { recordingSecrets } from '../guardrails/known-secrets.ts';
import type { Logger } from '../ports/logger.ts';
import type { ModelProvider, ModelProviders } from '../ports/models.ts';
import type { RunStore } from '../ports/run-store.ts';
import type { Sandbox, SandboxProvider } from '../ports/sandbox.ts';
import type { AgentScope, RunDeps } from './deps.ts';

/**
 * The one redaction path: every port through which text enters a run or leaves the
 * process passes the known secrets' redactor (core/guardrails/known-secrets.ts).
 *
 * - Where text enters: tool results and errors, sandbox output, model answers and errors.
 * - Where it leaves or is kept: the request to the model provider (a last line, whatever
 *   the conversation holds), everything the store writes (messages, trace events, stop
 *   details) and reads (so the API, console and CLI show it redacted), offloaded results,
 *   events, webhooks, mail, telemetry and log lines.
 *
 * Both hosts apply it to the steps' deps (functions/_shared/handlers.ts); the local host
 * to everything it serves. Applying it twice changes nothing.
 */

const REDACTING = Symbol('looprail.redacting');

type AnyFunction = (...args: unknown[]) => unknown;

/**
 * `target` with its methods bound to it; `overrides` replace some. Private fields stay
 * reachable because every method runs on the target itself.
 */
function overriding<T extends object>(target: T, overrides: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof T];
      const value = Reflect.get(object, property, object) as unknown;
      return typeof value === 'function' ? (value as AnyFunction).bind(object) : value;
    },
  });
}

/** Each async method's answer redacted, and its error; arguments pass as they are. */
function redactingAnswers<T extends object>(target: T, known: KnownSecrets, methods: ReadonlyArray<keyof T>): T {
  const overrides: Partial<Record<keyof T, unknown>> = {};
  for (const method of methods) {
    const original = target[method] as unknown as AnyFunction;
    overrides[method] = async (...args: unknown[]) => {
      try {
        return known.redactDeep(await original.apply(target, args));
      } catch (error) {
        throw known.redactError(error);
      }
    };
  }
  return overriding(target, overrides);
}

/** Each method called with its arguments redacted (writes), or answering redacted (reads). */
function redactingStore(store: RunStore, known: KnownSecrets): RunStore {
  const writes = ['createRun', 'commit', 'putApproval', 'settleApproval', 'completeSideEffect'] as const;
  const reads = [
    'getRun',
    'loadState',
    'listTrace',
    'listTracePage',
    'listMessagesPage',
    'listRuns',
    'getApproval',
  ] as const;
  const overrides: Partial<Record<keyof RunStore, unknown>> = {};
  for (const method of writes) {
    const original = store[method] as unknown as AnyFunction;
    overrides[method] = (...args: unknown[]) =>
      original.apply(
        store,
        args.map((arg) => known.redactDeep(arg)),
      );
  }
  const answering = redactingAnswers(store, known, reads);
  for (const method of reads) overrides[method] = answering[method];
  return overriding(store, overrides);
}

function redactingProvider<P extends ModelProvider>(provider: P, known: KnownSecrets): P {
  return overriding(provider, {
    complete: async (request: Parameters<P['complete']>[0]) => {
      try {
        return known.redactDeep(await provider.complete(known.redactDeep(request)));
      } catch (error) {
        throw known.redactError(error);
      }
    },
  } as Partial<Record<keyof P, unknown>>);
}

function redactingProviders(providers: ModelProviders, known: KnownSecrets): ModelProviders {
  const wrapped = Object.fromEntries(
    Object.entries(providers).map(([name, provider]) => [name, redactingProvider(provider, known)]),
  );
  return wrapped as unknown as ModelProviders;
}

function redactingSandboxes(sandboxes: SandboxProvider, known: KnownSecrets): SandboxProvider {
  const sandboxMethods: Array<keyof Sandbox> = ['exec', 'readFile', 'writeFile', 'listFiles', 'diff', 'runScript'];
  return overriding(sandboxes, {
    open: async (request: Parameters<SandboxProvider['open']>[0]) => {
      try {
        return redactingAnswers(await sandboxes.open(request), known, sandboxMethods);
      } catch (error) {
        throw known.redactError(error);
      }
    },
    destroy: (sandboxId: string) =>
      sandboxes.destroy(sandboxId).catch((error: unknown) => Promise.reject(known.redactError(error))),
  });
}

function redactingLogger(log: Logger, known: KnownSecrets): Logger {
  const line =
    (level: keyof Logger) =>
    (message: string, fields?: Record<string, unknown>): void =>
      log[level](known.redact(message), fields && known.redactDeep(fields));
  return { info: line('info'), warn: line('warn'), error: line('error') };
}

/** Ports whose one method sends something out: its arguments are redacted. */
function redactingSender<T extends object>(port: T, known: KnownSecrets, method: keyof T): T {
  const original = port[method] as unknown as AnyFunction;
  return overriding(port, {
    [method]: (...args: unknown[]) =>
      original.apply(
        port,
        args.map((arg) => known.redactDeep(arg)),
      ),
  } as Partial<Record<keyof T, unknown>>);
}

function redactingScope(scope: AgentScope, known: KnownSecrets): AgentScope {
  return {
    tools: redactingAnswers(scope.tools, known, ['listTools', 'callTool']),
    providers: redactingProviders(scope.providers, known),
    ...(scope.secrets ? { secrets: recordingSecrets(scope.secrets, known) } : {}),
  };
}

/** `deps` with every sink and source redacted by `deps.knownSecrets`; as is without it. */
export function withSecretRedaction<D extends RunDeps>(deps: D): D {
  const known = deps.knownSecrets;
  if (!known || (deps as { [REDACTING]?: true })[REDACTING]) return deps;
  const { events, webhooks, mailer, telemetry, sandboxes, results, approvals, scopeFor } = deps;
  const redacted: D = {
    ...deps,
    store: redactingStore(deps.store, known),
    providers: redactingProviders(deps.providers, known),
    tools: redactingAnswers(deps.tools, known, ['listTools', 'callTool']),
    log: redactingLogger(deps.log, known),
    ...(events ? { events: redactingSender(events, known, 'publish') } : {}),
    ...(webhooks ? { webhooks: redactingSender(webhooks, known, 'post') } : {}),
    ...(mailer ? { mailer: redactingSender(mailer, known, 'send') } : {}),
    ...(telemetry ? { telemetry: redactingSender(telemetry, known, 'exportRun') } : {}),
    ...(sandboxes ? { sandboxes: redactingSandboxes(sandboxes, known) } : {}),
    ...(results
      ? { results: redactingAnswers(redactingSender(results, known, 'putResult'), known, ['getResult']) }
      : {}),
    // A view, not a copy: the local host sets `approvals.tasks` after building its deps.
    ...(approvals ? { approvals: overriding(approvals, { secrets: recordingSecrets(approvals.secrets, known) }) } : {}),
    ...(scopeFor
      ? { scopeFor: (identity: string, runId: string) => redactingScope(scopeFor(identity, runId), known) }
      : {}),
  };
  Object.defineProperty(redacted, REDACTING, { value: true });
  return redacted;
}
