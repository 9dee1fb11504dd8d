import { afterEach, describe, expect, it, vi } from 'vitest';
import { STEP_SPECS, TRACE_EXPORT_STEPS } from '../../infra/constructs/step-functions.ts';
import { importGraph, importsOf, sourceFiles } from '../support/source-graph.ts';

/**
 * Each Lambda imports only what its role uses (functions/_shared/runtime.ts): the modules
 * a deployed entry loads, followed through value imports (what esbuild bundles), hold no
 * YAML parser anywhere, and no agent client (MCP, model providers) outside the loop's
 * steps that act for agents.
 */

const ENTRIES: Record<string, string> = {
  ...Object.fromEntries(Object.entries(STEP_SPECS).map(([name, spec]) => [name, spec.entry])),
  Schedule: 'functions/trigger/schedule.ts',
  Event: 'functions/trigger/event.ts',
  HttpApp: 'functions/http/handler.ts',
  Approvals: 'functions/approval/http.ts',
  ApprovalReminders: 'functions/approval/reminders.ts',
};
const ACTS_FOR_AGENTS = ['StartRun', 'ModelStep', 'ToolStep', 'Verify'];
const AGENT_CLIENT_MODULES = [
  'functions/_shared/agent-clients.ts',
  'adapters/models/index.ts',
  'adapters/mcp/mcp-gateway.ts',
];

/** The steps that read the skills registry: StartRun mounts a run's skills, ToolStep loads one. */
const READS_SKILLS = ['StartRun', 'ToolStep'];

/** The functions the stack gives the sandbox broker's name (infra/constructs/sandboxes/sandboxes.ts). */
const USES_SANDBOXES = ['ToolStep', 'Verify', 'FinishRun', 'FailRun'];

const valueEdges = importGraph(sourceFiles()).filter(({ typeOnly }) => !typeOnly);

/**
 * Every file of ours an entry loads, each with the file that first imported it; `atInit`:
 * only what its import evaluates (no `import()` followed).
 */
function reach(entry: string, atInit = false): Map<string, string | undefined> {
  const previous = new Map<string, string | undefined>([[entry, undefined]]);
  const queue = [entry];
  while (queue.length > 0) {
    const from = queue.shift()!;
    for (const { to } of valueEdges.filter((edge) => edge.from === from && !(atInit && edge.deferred))) {
      if (previous.has(to)) continue;
      previous.set(to, from);
      queue.push(to);
    }
  }
  return previous;
}

/** The packages an entry's files import by value (`atInit`: as its import evaluates them). */
function packagesOf(entry: string, atInit = false): string[] {
  return [...reach(entry, atInit).keys()].flatMap((file) =>
    importsOf(file)
      .filter(({ specifier, typeOnly, deferred }) => !typeOnly && !specifier.startsWith('.') && !(atInit && deferred))
      .map(({ specifier }) => specifier),
  );
}

/** How an entry reaches a file `target` accepts: the chain of files, for a message that says what to cut. */
function chainTo(entry: string, target: (file: string) => boolean): string | undefined {
  const previous = reach(entry);
  const found = [...previous.keys()].find(target);
  if (!found) return undefined;
  const chain = [found];
  for (let at = previous.get(found); at; at = previous.get(at)) chain.unshift(at);
  return chain.join(' -> ');
}

const importsYaml = (file: string) =>
  importsOf(file).some(
    ({ specifier, typeOnly }) => !typeOnly && (specifier === 'yaml' || specifier.startsWith('yaml/')),
  );

describe('each Lambda entry loads only what its role uses', () => {
  for (const [name, entry] of Object.entries(ENTRIES)) {
    it(`${name} (${entry}) loads no YAML parser`, () => {
      expect(reach(entry).size).toBeGreaterThan(5);
      expect(chainTo(entry, importsYaml)).toBeUndefined();
    });

    if (!USES_SANDBOXES.includes(name)) {
      it(`${name} loads no sandbox client`, () => {
        expect(chainTo(entry, (file) => file === 'adapters/sandbox/remote.ts')).toBeUndefined();
      });
    }

    if (!ACTS_FOR_AGENTS.includes(name)) {
      it(`${name} loads no agent client (MCP, model providers)`, () => {
        expect(chainTo(entry, (file) => AGENT_CLIENT_MODULES.includes(file))).toBeUndefined();
        expect(packagesOf(entry).filter((pkg) => pkg.startsWith('@modelcontextprotocol/'))).toEqual([]);
      });
    }
  }

  it('ModelStep reaches the agent clients (it answers a read-only turn itself), but not the sandbox broker', () => {
    const entry = ENTRIES.ModelStep!;
    expect(chainTo(entry, (file) => file === 'functions/_shared/agent-clients.ts')).toBeDefined();
    expect(chainTo(entry, (file) => file === 'functions/_shared/sandbox-client.ts')).toBeUndefined();
  });

  it('no function compiles JSON schemas with ajv: tool arguments and MCP output are checked without generated code', () => {
    for (const [name, entry] of Object.entries(ENTRIES)) {
      expect(
        packagesOf(entry).filter((pkg) => pkg === 'ajv' || pkg.startsWith('ajv/')),
        name,
      ).toEqual([]);
    }
  });

  for (const [name, entry] of Object.entries(ENTRIES)) {
    if (TRACE_EXPORT_STEPS.includes(name as never)) continue;
    it(`${name} loads no OpenTelemetry exporter (only the steps that close runs export them)`, () => {
      expect(chainTo(entry, (file) => file.startsWith('adapters/otel/'))).toBeUndefined();
    });
  }

  for (const [name, entry] of Object.entries(ENTRIES)) {
    if (READS_SKILLS.includes(name)) continue;
    it(`${name} wires no skills registry (only StartRun mounts skills and ToolStep loads them)`, () => {
      expect(chainTo(entry, (file) => file === 'functions/_shared/skill-registry.ts')).toBeUndefined();
    });
  }

  it('the approval pages load the API Gateway adapter, not the API and console', () => {
    expect(chainTo(ENTRIES.Approvals!, (file) => file === 'functions/http/api-gateway.ts')).toBeDefined();
    expect(chainTo(ENTRIES.Approvals!, (file) => file === 'functions/http/api/index.ts')).toBeUndefined();
    expect(chainTo(ENTRIES.HttpApp!, (file) => file === 'functions/http/api/index.ts')).toBeDefined();
  });

  it("evaluates the MCP SDK only with a direct connection, never at a step's init (servers on AWS are hosted)", () => {
    const sdk = (entry: string, atInit: boolean) =>
      packagesOf(entry, atInit).filter((name) => name.startsWith('@modelcontextprotocol/sdk'));
    for (const name of ACTS_FOR_AGENTS) {
      expect(sdk(ENTRIES[name]!, true), name).toEqual([]);
      // Bundled all the same, for an http server (the check itself can fail).
      expect(sdk(ENTRIES[name]!, false).length, name).toBeGreaterThan(0);
    }
  });

  it('finds the agent clients where they are wired (the check itself can fail)', () => {
    expect(chainTo(ENTRIES.ToolStep!, (file) => AGENT_CLIENT_MODULES.includes(file))).toMatch(
      /^functions\/step\/tool-step\.ts -> functions\/_shared\/agent-clients\.ts/,
    );
    expect(packagesOf(ENTRIES.ToolStep!)).toContain('@cfworker/json-schema');
    expect(chainTo(ENTRIES.ToolStep!, (file) => file === 'functions/_shared/skill-registry.ts')).toBeDefined();
    expect(chainTo(ENTRIES.FinishRun!, (file) => file === 'adapters/otel/otlp-http.ts')).toMatch(
      /^functions\/run\/finish-run\.ts -> functions\/_shared\/telemetry-export\.ts/,
    );
    expect(chainTo('cli/commands/skills.ts', importsYaml)).toMatch(/-> core\/definitions\/yaml-source\.ts$/);
  });
});

describe('lambdaDeps without the agent clients', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  async function freshRuntime() {
    vi.stubEnv('LOOPRAIL_TABLE_NAME', 'runs');
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('LOOPRAIL_AGENT_ROLE_PREFIX', 'arn:aws:iam::123456789012:role/looprail-');
    vi.resetModules();
    return import('../../functions/_shared/runtime.ts');
  }

  it('refuses a model call or a tool call, naming what to wire', async () => {
    const deps = (await freshRuntime()).lambdaDeps();
    const expected =
      /composed without the agents' (model providers|MCP tools); only the loop's steps that act for agents \(StartRun, ModelStep, ToolStep, Verify\) pass AGENT_CLIENTS/;
    await expect(deps.providers.bedrock.complete({} as never)).rejects.toThrow(expected);
    await expect(deps.providers.anthropic.complete({} as never)).rejects.toThrow(/model providers/);
    await expect(deps.tools.listTools({} as never)).rejects.toThrow(/MCP tools/);
    await expect(deps.tools.callTool({} as never, 'echo', {}, {} as never)).rejects.toThrow(expected);
    await expect(deps.tools.close()).resolves.toBeUndefined();
    expect(deps.scopeFor).toBeUndefined();
  });

  it('refuses to start with a sandbox broker named but no sandbox client wired', async () => {
    vi.stubEnv('LOOPRAIL_SANDBOX_BROKER', 'looprail-sandbox-broker');
    const { lambdaDeps } = await freshRuntime();
    expect(() => lambdaDeps()).toThrow(
      /LOOPRAIL_SANDBOX_BROKER is set, but this function was composed without the sandbox client; the steps that use sandboxes \(ToolStep, Verify, FinishRun, FailRun\) pass SANDBOX_CLIENT/,
    );
    const { SANDBOX_CLIENT } = await import('../../functions/_shared/sandbox-client.ts');
    expect(lambdaDeps({ sandboxes: SANDBOX_CLIENT }).sandboxes?.constructor.name).toBe('RemoteSandboxes');
  });

  it('reads skills only when composed with SKILL_REGISTRY', async () => {
    const { lambdaDeps } = await freshRuntime();
    expect(lambdaDeps().skills).toBeUndefined();
    const { SKILL_REGISTRY } = await import('../../functions/_shared/skill-registry.ts');
    expect((await freshRuntime()).lambdaDeps({ skills: SKILL_REGISTRY }).skills?.constructor.name).toBe(
      'DynamoSkillStore',
    );
  });

  it('exports finished runs only when composed with OTLP_EXPORT, which checks the settings at init', async () => {
    vi.stubEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'https://collector.example/v1/traces');
    const { lambdaDeps } = await freshRuntime();
    expect(lambdaDeps().telemetry).toBeUndefined();
    const { OTLP_EXPORT } = await import('../../functions/_shared/telemetry-export.ts');
    // The exporter is loaded at the first export (a stack with no collector never evaluates it).
    expect((await freshRuntime()).lambdaDeps({ telemetry: OTLP_EXPORT }).telemetry?.constructor.name).toBe(
      'FirstUseOtlpExporter',
    );
    vi.stubEnv('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'ftp://collector');
    expect(() => OTLP_EXPORT(process.env, () => ({ get: () => Promise.reject(new Error('unused')) }))).toThrow(
      /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: expected an http\(s\) URL/,
    );
  });

  it('wires the MCP gateway and the providers when the entry passes AGENT_CLIENTS', async () => {
    const { lambdaDeps } = await freshRuntime();
    const { AGENT_CLIENTS } = await import('../../functions/_shared/agent-clients.ts');
    const deps = lambdaDeps({ agents: AGENT_CLIENTS });
    expect(deps.tools.constructor.name).toBe('McpToolGateway');
    expect(deps.providers.bedrock.constructor.name).toBe('BedrockProvider');
    expect(deps.scopeFor).toBeTypeOf('function');
  });
});
