import { describe, expect, it } from 'vitest';
import { KnownSecrets } from '../../core/guardrails/known-secrets.ts';
import { ConfigurationError, ToolUnavailableError } from '../../core/errors.ts';
import type { ModelProviders, ModelRequest } from '../../core/ports/models.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import type { Sandbox, SandboxProvider } from '../../core/ports/sandbox.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { withSecretRedaction } from '../../core/run/redacting-deps.ts';

/**
 * Every port of the steps' deps passes the known secrets' redactor: what enters a run
 * (tool results, sandbox output, model answers and errors), what leaves it (the model
 * request) and what is kept or sent (store writes and reads, events, mail, webhooks,
 * telemetry, logs). Each sink here records what it was given, the way a real one would.
 */

const SECRET = 'tok-"quoted"\\/value';
const ESCAPED = JSON.stringify(SECRET).slice(1, -1);

function fakeDeps() {
  const seen: Record<string, unknown[]> = {};
  const record = (sink: string) => (value: unknown) => {
    seen[sink] ??= [];
    seen[sink].push(value);
  };
  class ClassStore {
    // A private field, as the DynamoDB store has: methods must still run on the real object.
    readonly #rows: unknown[] = [];
    async commit(runId: string, commit: unknown) {
      this.#rows.push(commit);
      record('commit')({ runId, commit });
      return 'committed' as const;
    }
    async getRun(runId: string) {
      return { runId, stopDetail: `refused ${ESCAPED}` };
    }
    async takeRateToken() {
      return this.#rows.length >= 0;
    }
  }
  const provider = (name: string) => ({
    name,
    async complete(request: ModelRequest) {
      record('model request')(request);
      if (request.system === 'fail') throw new ConfigurationError(`key ${encodeURIComponent(SECRET)} refused`);
      return { content: [{ type: 'text', text: `echo ${ESCAPED}` }], stopReason: 'end_turn', provider: name };
    },
  });
  const tools = {
    async listTools() {
      return [{ name: 'env', description: `uses ${SECRET}`, inputSchema: {} }];
    },
    async callTool(_server: unknown, tool: string) {
      if (tool === 'broken') throw new ToolUnavailableError(`server said ${Buffer.from(SECRET).toString('base64')}`);
      return { content: JSON.stringify({ env: { TOKEN: SECRET } }), isError: false };
    },
    async close() {},
  } as unknown as ToolGateway;
  const sandbox = {
    createdAt: '2026-01-01T00:00:00.000Z',
    usedMs: () => 7,
    async exec() {
      return { value: { stdout: `printenv: ${SECRET}\n`, exitCode: 0 }, ms: 1 };
    },
  } as unknown as Sandbox;
  const sandboxes: SandboxProvider = { open: async () => sandbox, destroy: async () => {} };
  const deps = {
    store: new ClassStore() as unknown as RunStore,
    providers: { openai: provider('openai'), anthropic: provider('anthropic') } as unknown as ModelProviders,
    tools,
    log: {
      info: record('log'),
      warn: record('log'),
      error: (message: string, fields?: unknown) => record('log')({ message, fields }),
    },
    events: { publish: async (event: unknown) => record('event')(event) },
    mailer: {
      send: async (message: unknown) => {
        record('mail')(message);
        return { messageId: 'm1' };
      },
    },
    webhooks: { post: async (url: string, body: unknown) => record('webhook')({ url, body }) },
    telemetry: { exportRun: async (run: unknown) => record('telemetry')(run) },
    results: {
      putResult: async (_runId: string, _callId: string, result: unknown) => record('result')(result),
      getResult: async () => ({ found: true, text: `page ${SECRET}` }),
    },
    sandboxes,
    scopeFor: () => ({ tools, providers: deps.providers, secrets: { get: async () => 'scoped-secret-value' } }),
    knownSecrets: new KnownSecrets(),
  } as unknown as RunDeps & { knownSecrets: KnownSecrets };
  deps.knownSecrets.remember(SECRET);
  return { deps, seen };
}

const leaks = (value: unknown) => {
  const text = JSON.stringify(value);
  return text.includes(SECRET) || text.includes(ESCAPED) || text.includes(JSON.stringify(ESCAPED).slice(1, -1));
};

describe('withSecretRedaction', () => {
  it('redacts what tools, sandboxes and model providers answer, and their errors', async () => {
    const { deps } = fakeDeps();
    const redacted = withSecretRedaction(deps);
    const server = {} as never;
    const result = await redacted.tools.callTool(server, 'env', {}, { timeoutMs: 1 });
    expect(JSON.parse(result.content)).toEqual({ env: { TOKEN: '[redacted]' } });
    expect(leaks(await redacted.tools.listTools(server))).toBe(false);
    const failure = await redacted.tools
      .callTool(server, 'broken', {}, { timeoutMs: 1 })
      .catch((error: Error) => error);
    expect(failure).toBeInstanceOf(ToolUnavailableError);
    // The base64 characters that also carry bits of what follows the secret (here, padding) are kept.
    expect((failure as Error).message).toMatch(/^server said \[redacted\][A-Za-z0-9+/=]{0,3}$/);

    const sandbox = await redacted.sandboxes!.open({} as never);
    expect(sandbox.createdAt).toBe('2026-01-01T00:00:00.000Z');
    expect(sandbox.usedMs()).toBe(7);
    expect(await sandbox.exec({} as never)).toEqual({
      value: { stdout: 'printenv: [redacted]\n', exitCode: 0 },
      ms: 1,
    });

    const answer = await redacted.providers.openai.complete({ system: 'ok', messages: [] } as unknown as ModelRequest);
    expect(answer.content).toEqual([{ type: 'text', text: 'echo [redacted]' }]);
    const refused = await redacted.providers.anthropic
      .complete({ system: 'fail', messages: [] } as unknown as ModelRequest)
      .catch((error: Error) => error);
    expect(refused).toBeInstanceOf(ConfigurationError);
    expect((refused as Error).message).toBe('key [redacted] refused');
  });

  it('redacts the request to the model provider, whatever the conversation holds', async () => {
    const { deps, seen } = fakeDeps();
    const request = {
      system: `use ${SECRET}`,
      messages: [{ role: 'user', content: [{ type: 'text', text: `{"env":"${ESCAPED}"}` }] }],
    } as unknown as ModelRequest;
    await withSecretRedaction(deps).providers.openai.complete(request);
    expect(leaks(seen['model request'])).toBe(false);
    expect(JSON.stringify(seen['model request'])).toContain('[redacted]');
    expect(request.system).toBe(`use ${SECRET}`);
  });

  it('redacts what the store writes and reads, and every sink, on a store with private fields', async () => {
    const { deps, seen } = fakeDeps();
    const redacted = withSecretRedaction(deps);
    await redacted.store.commit('r1', { meta: { stopDetail: `error: ${SECRET}` } } as never);
    expect(await redacted.store.takeRateToken('s', 'w', 1, 0)).toBe(true);
    expect((await redacted.store.getRun('r1'))?.stopDetail).toBe('refused [redacted]');
    await redacted.events!.publish({ type: 'run.failed', runId: 'r1', detail: { stopDetail: SECRET } } as never);
    await redacted.mailer!.send({ to: ['a@example.com'], subject: `failed: ${SECRET}`, text: ESCAPED } as never);
    await redacted.webhooks!.post('http://127.0.0.1:9/hook', { text: SECRET });
    await redacted.telemetry!.exportRun({ meta: { stopDetail: SECRET } } as never);
    await redacted.results!.putResult('r1', 'c1', { text: SECRET } as never);
    expect(leaks(await redacted.results!.getResult('r1', 'c1'))).toBe(false);
    redacted.log.error(`step failed: ${SECRET}`, { message: ESCAPED });
    for (const sink of ['commit', 'event', 'mail', 'webhook', 'telemetry', 'result', 'log']) {
      expect(seen[sink], sink).toHaveLength(1);
      expect(leaks(seen[sink]), sink).toBe(false);
    }
    expect(seen['webhook']).toEqual([{ url: 'http://127.0.0.1:9/hook', body: { text: '[redacted]' } }]);
  });

  it("remembers what an agent's scope reads, and redacts its tools and providers", async () => {
    const { deps } = fakeDeps();
    const redacted = withSecretRedaction(deps);
    const scope = redacted.scopeFor!('agent', 'r1');
    expect(await scope.secrets!.get('any')).toBe('scoped-secret-value');
    expect(deps.knownSecrets.redact('x scoped-secret-value y')).toBe('x [redacted] y');
    const result = await scope.tools.callTool({} as never, 'env', {}, { timeoutMs: 1 });
    expect(result.content).toBe('{"env":{"TOKEN":"[redacted]"}}');
  });

  it('leaves deps without known secrets as they are, and wraps only once', () => {
    const { deps } = fakeDeps();
    const { knownSecrets: _, ...withoutKnown } = deps;
    expect(withSecretRedaction(withoutKnown as RunDeps)).toBe(withoutKnown);
    const once = withSecretRedaction(deps);
    expect(withSecretRedaction(once)).toBe(once);
  });
});
