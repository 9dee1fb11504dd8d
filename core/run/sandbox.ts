import type { AgentView } from '../definitions/context.ts';
import type { McpServerDeclaration } from '../definitions/org.ts';
import { addUsage, ZERO_USAGE, type RunMeta } from '../definitions/run.ts';
import type { NewTraceEvent } from '../definitions/trace.ts';
import { SANDBOX_SERVER } from '../definitions/sandbox.ts';
import { SandboxUnavailableError } from '../errors.ts';
import type { RollupIncrement } from '../ports/store/budgets.ts';
import type { RunRecordStore } from '../ports/store/runs.ts';
import type { Sandbox, ToolBridge } from '../ports/sandbox.ts';
import type { ToolGateway } from '../ports/tools.ts';
import { callSandboxTool, SANDBOX_TOOLS } from '../sandbox/tools.ts';
import { scoped, type RunDeps } from './deps.ts';
import type { StepWriter } from './step-writer.ts';

/**
 * A run's sandbox, seen from the steps: one per maker run (its checker works in the same
 * workspace), opened on the first sandbox call, destroyed when the run ends.
 */

/** The maker's run id: a checker run inspects its maker's workspace. */
export function sandboxIdOf(meta: Pick<RunMeta, 'runId' | 'parentRunId'>): string {
  return meta.parentRunId ?? meta.runId;
}

export function isSandboxServer(server: McpServerDeclaration): boolean {
  return server.name === SANDBOX_SERVER && server.transport.type === 'builtin';
}

/** What reaching a run's tools takes: its MCP clients (as its identity), the sandbox provider, and the run records (a child's sandbox gets its parent's input). */
export type RunToolsDeps = Pick<RunDeps, 'scopeFor' | 'tools' | 'providers' | 'sandboxes'> & { store: RunRecordStore };

/**
 * The gateway a run's tool calls go through: looprail's sandbox server in-process, every
 * other server over MCP (as the agent's own identity). Everything before the call —
 * grants, approvals, schemas, guardrails, side-effect claims — is the same for both.
 * `bridge` carries a run_code script's own tool calls back through that same path.
 */
export function runTools(deps: RunToolsDeps, view: AgentView, meta: RunMeta, bridge?: ToolBridge): ToolGateway {
  const mcp = scoped(deps, view, meta.runId).tools;
  return {
    listTools: (server) => (isSandboxServer(server) ? Promise.resolve(SANDBOX_TOOLS) : mcp.listTools(server)),
    callTool: (server, tool, args, options) => {
      if (!isSandboxServer(server)) return mcp.callTool(server, tool, args, options);
      const sandbox = view.sandbox;
      if (!sandbox)
        return Promise.resolve({
          content: 'the sandbox is unavailable, so nothing was run: this agent declares no sandbox',
          isError: true,
        });
      return callSandboxTool(
        {
          open: () => openSandbox(deps, sandbox, meta),
          spec: sandbox.spec,
          pricePerHourMicros: sandbox.pricePerHourMicros,
          bridge,
          createdAt: meta.sandboxCreatedAt,
        },
        tool,
        args,
      );
    },
    close: () => mcp.close(),
  };
}

/** The run's sandbox (its maker's), created on first use: the tools' and verify.checks' way in. */
export async function openSandbox(
  deps: RunToolsDeps,
  sandbox: NonNullable<AgentView['sandbox']>,
  meta: RunMeta,
): Promise<Sandbox> {
  if (!deps.sandboxes)
    throw new SandboxUnavailableError(
      'no sandbox provider is configured where this run executes (on AWS the stack deploys one, with the sandbox broker, when an agent declares sandbox:)',
    );
  // What is copied in comes from the maker's input, whichever of the two opens the sandbox first.
  const input = meta.parentRunId ? (await deps.store.getRun(meta.parentRunId))?.input : meta.input;
  return deps.sandboxes.open({ sandboxId: sandboxIdOf(meta), agent: sandbox.agent, spec: sandbox.spec, input });
}

/**
 * Tool calls that cost something (sandbox time) count like model spend: in the run's usage
 * (so its ceilings see them, and its totals stay the sum of its trace) and in the rollups.
 */
export function chargeToolCosts(writer: StepWriter, traces: NewTraceEvent[], now: Date): void {
  const charged = traces.filter((trace) => (trace.costMicros ?? 0) > 0);
  const micros = charged.reduce((sum, trace) => sum + (trace.costMicros ?? 0), 0);
  if (micros === 0) return;
  const meta = writer.meta;
  meta.usage = addUsage(meta.usage, { ...ZERO_USAGE, costMicros: micros });
  const date = now.toISOString().slice(0, 10);
  const row = (dimension: RollupIncrement['dimension'], key: string, calls: number): RollupIncrement => ({
    dimension,
    key,
    date,
    role: meta.role,
    costMicros: micros,
    inputTokens: 0,
    outputTokens: 0,
    calls,
  });
  const rows = [
    row('agent', meta.agent, 0),
    row('user', meta.principal, 0),
    row('model', SANDBOX_SERVER, charged.length),
  ];
  if (meta.team) rows.push(row('team', meta.team, 0));
  writer.addRollups(rows);
}
