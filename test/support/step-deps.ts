import { formatProblem, loadOrgFolder } from '../../adapters/catalog/fs-loader.ts';
import { ScriptedModelProvider } from '../../adapters/models/scripted.ts';
import type { Catalog } from '../../core/definitions/catalog.ts';
import type { Control } from '../../core/definitions/run.ts';
import type { McpServerDeclaration } from '../../core/definitions/org.ts';
import { silentLogger } from '../../core/ports/logger.ts';
import type { RunStore } from '../../core/ports/run-store.ts';
import type { ProviderName } from '../../core/definitions/org.ts';
import type { ModelProvider, ModelProviders } from '../../core/ports/models.ts';
import type { ToolCallResult, ToolDescriptor, ToolGateway } from '../../core/ports/tools.ts';
import type { RunDeps } from '../../core/run/deps.ts';
import { finishRunStep } from '../../core/run/finish-run.ts';
import { modelStep } from '../../core/run/model-step.ts';
import { startRunStep } from '../../core/run/start-run.ts';
import { requestRun } from '../../core/run/request-run.ts';
import { toolStep } from '../../core/run/tool-step.ts';
import { verifyStep } from '../../core/run/verify.ts';
import { memoryRunStore } from './memory-store/index.ts';

/**
 * The steps' dependencies with nothing outside the process: the in-memory store, the
 * scripted model provider and a fake tool gateway. For unit tests that call the steps
 * directly (no DynamoDB Local, no state machine, no MCP server).
 */

/** One call the fake gateway received. */
export interface GatewayCall {
  server: string;
  tool: string;
  args: Record<string, unknown>;
}

/** Offers each declared tool of a server with an open schema, and answers every call with its name and arguments. */
export class FakeToolGateway implements ToolGateway {
  readonly calls: GatewayCall[] = [];

  async listTools(server: McpServerDeclaration): Promise<ToolDescriptor[]> {
    return Object.keys(server.tools ?? {}).map((name) => ({
      name,
      description: `${server.name}.${name}`,
      inputSchema: { type: 'object' },
    }));
  }

  async callTool(server: McpServerDeclaration, tool: string, args: Record<string, unknown>): Promise<ToolCallResult> {
    this.calls.push({ server: server.name, tool, args });
    return { content: `${tool} ran with ${JSON.stringify(args)}`, isError: false };
  }

  async close(): Promise<void> {}
}

const catalogs = new Map<string, Promise<Catalog>>();

async function catalogOf(orgDir: string): Promise<Catalog> {
  const { catalog, problems } = await loadOrgFolder(orgDir);
  const errors = problems.filter((problem) => problem.severity === 'error');
  if (!catalog || errors.length > 0)
    throw new Error(`${orgDir} has problems:\n${errors.map(formatProblem).join('\n')}`);
  return catalog;
}

export type StepDeps = RunDeps & { gateway: FakeToolGateway };

/** Only the scripted model answers here: a call to any other provider fails the test loudly. */
function offline<Name extends ProviderName>(name: Name): ModelProvider<Name> {
  return {
    name,
    complete: () => Promise.reject(new Error(`provider ${name} is not reachable in step unit tests`)),
  };
}

const providers: ModelProviders = {
  scripted: new ScriptedModelProvider(),
  anthropic: offline('anthropic'),
  bedrock: offline('bedrock'),
  openai: offline('openai'),
};

/** Fresh deps (a new store, a new gateway) over an org folder's catalog (read once per folder). */
export async function stepDeps(orgDir: string, overrides: Partial<RunDeps> = {}): Promise<StepDeps> {
  if (!catalogs.has(orgDir)) catalogs.set(orgDir, catalogOf(orgDir));
  const catalog = await catalogs.get(orgDir)!;
  const gateway = new FakeToolGateway();
  let nextId = 0;
  const store: RunStore = memoryRunStore();
  return {
    store,
    providers,
    tools: gateway,
    clock: { now: () => new Date() },
    ids: { newId: (prefix) => `${prefix}-${String((nextId += 1)).padStart(6, '0')}` },
    catalog: async () => catalog,
    log: silentLogger,
    guardrailRules: {},
    gateway,
    ...overrides,
  };
}

/** Records a run of `agent` as a CLI trigger would. */
export async function newRun(deps: RunDeps, agent: string, input: unknown = { task: 'do the thing' }): Promise<string> {
  const { runId } = await requestRun(deps, {
    agent,
    input,
    principal: 'user:tests@example.com',
    trigger: { kind: 'cli' },
  });
  return runId;
}

/**
 * Runs a recorded run step by step, as the state machine routes it, until it finishes or
 * waits for an approval: returns each control the steps answered. A delegated child run
 * (the checker, without the in-process children port) is driven the same way in between.
 */
export async function drive(deps: RunDeps, runId: string): Promise<Control[]> {
  const controls: Control[] = [await startRunStep(deps, { runId })];
  for (let steps = 0; steps < 100; steps++) {
    const control = controls.at(-1)!;
    const input = { runId, seq: control.seq };
    switch (control.next) {
      case 'model':
        controls.push(await modelStep(deps, input));
        break;
      case 'tools':
        controls.push(await toolStep(deps, input));
        break;
      case 'verify':
        controls.push(await verifyStep(deps, input));
        break;
      case 'delegate':
        await drive(deps, control.childRunId!);
        controls.push(control.returnTo === 'verify' ? await verifyStep(deps, input) : await toolStep(deps, input));
        break;
      case 'finish': {
        const meta = await deps.store.getRun(runId);
        if (meta?.status === 'finished' || meta?.status === 'failed') return controls;
        controls.push(await finishRunStep(deps, input));
        break;
      }
      default:
        // `approval` (a human decides) and `continue` (a new execution) are the caller's to take further.
        return controls;
    }
  }
  throw new Error(`run ${runId} did not end within 100 steps`);
}
