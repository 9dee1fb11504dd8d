import { describe, expect, it } from 'vitest';
import type { AgentView } from '../../core/definitions/context.ts';
import { GuardrailPolicy } from '../../core/definitions/guardrails.ts';
import type { McpServerDeclaration } from '../../core/definitions/org.ts';
import type { RunMeta } from '../../core/definitions/run.ts';
import { SandboxSpec } from '../../core/definitions/sandbox.ts';
import { CommandCheck, ToolCheck } from '../../core/definitions/verify-checks.ts';
import { SandboxUnavailableError, ToolTimeoutError } from '../../core/errors.ts';
import type { ExecRequest, ExecResult, Sandbox } from '../../core/ports/sandbox.ts';
import type { ToolGateway } from '../../core/ports/tools.ts';
import { type CheckDeps, runCheck } from '../../core/run/verify-checks.ts';
import { SANDBOX_DECLARATION } from '../../core/sandbox/tools.ts';

/**
 * One check as Verify runs it (core/run/verify-checks.ts), over a scripted sandbox and tool
 * gateway: every way a check can fail is a failed check with a reason, never a thrown error.
 * The real sandbox runs the same checks in test/e2e/verify-checks.test.ts.
 */

const CI: McpServerDeclaration = {
  name: 'ci',
  transport: { type: 'stdio', command: 'ci-server', args: [], env: {}, env_secrets: {} },
  timeouts: { call: 5 },
  tools: { get_status: { read_only: true }, rerun: {} },
};

function viewWith(options: { sandbox?: boolean; guardrails?: unknown } = {}): AgentView {
  return {
    agent: 'fixer',
    role: 'maker',
    grants: [{ server: 'sandbox' }, { server: 'ci' }],
    servers: { sandbox: SANDBOX_DECLARATION, ci: CI },
    guardrails: options.guardrails ? GuardrailPolicy.parse(options.guardrails) : undefined,
    ...(options.sandbox === false
      ? {}
      : {
          sandbox: {
            spec: SandboxSpec.parse({ command_timeout_seconds: 60, run_timeout_seconds: 100 }),
            pricePerHourMicros: 360_000,
            agent: 'fixer',
          },
        }),
  } as unknown as AgentView;
}

const META = { runId: 'r-1', role: 'maker', sandboxCreatedAt: '2026-12-06T10:00:00.000Z' } as RunMeta;

function fakeSandbox(
  answers: Array<Partial<ExecResult> & { durationMs?: number }>,
  options: { usedMs?: number; createdAt?: string } = {},
) {
  const requests: ExecRequest[] = [];
  const sandbox = {
    createdAt: options.createdAt ?? META.sandboxCreatedAt!,
    usedMs: () => options.usedMs ?? 0,
    exec: async (request: ExecRequest) => {
      requests.push(request);
      const answer = answers.shift() ?? {};
      const durationMs = answer.durationMs ?? 1000;
      return {
        value: {
          timedOut: false,
          outputFlood: false,
          output: '',
          outputBytes: 0,
          truncated: false,
          durationMs,
          ...answer,
        },
        durationMs,
      };
    },
  } as unknown as Sandbox;
  return { sandbox, requests };
}

function deps(options: { sandbox?: Sandbox | Error; tools?: Partial<ToolGateway> } = {}): CheckDeps {
  return {
    store: { getRun: async () => undefined },
    tools: {
      listTools: async () => [],
      close: async () => {},
      callTool: async () => ({ content: '', isError: false }),
      ...options.tools,
    },
    providers: {},
    clock: { now: () => new Date('2026-12-06T10:00:00.000Z') },
    guardrailRules: {},
    sandboxes: {
      open: async () => {
        if (options.sandbox instanceof Error) throw options.sandbox;
        return options.sandbox!;
      },
      destroy: async () => {},
    },
  } as unknown as CheckDeps;
}

const tests = CommandCheck.parse({ name: 'tests', command: 'npm test', timeout: '30s', keep_output_bytes: 100 });
const status = ToolCheck.parse({
  name: 'ci-green',
  tool: 'ci.get_status',
  expect: { path: '$.state', equals: 'green' },
});

describe('running one check', () => {
  it('passes a command that exits as expected, priced by its sandbox time, asking for the tail within the timeout', async () => {
    const { sandbox, requests } = fakeSandbox([
      { exitCode: 0, output: 'looprail-check: 9 bytes\nall good\n', durationMs: 2000 },
    ]);
    const ran = await runCheck(deps({ sandbox }), viewWith(), META, tests, 1);
    expect(ran.pass).toBe(true);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ cwd: '.', timeoutSeconds: 30 });
    expect(requests[0]!.command).toContain("sh -c 'npm test'");
    expect(requests[0]!.command).toContain('tail -c 100 ');
    expect(ran.trace).toMatchObject({
      kind: 'verification',
      role: 'maker',
      name: 'tests',
      status: 'pass',
      attempt: 1,
      costMicros: 200,
      sandbox: { command: 'npm test', exitCode: 0, outputBytes: 9, durationMs: 2000 },
    });
    expect(ran.trace.detail).toBe('`npm test` exited 0 after 2.00 s\nIts output, all of it:\nall good\n');
  });

  it('reads the leftover log after a timeout, and charges both commands', async () => {
    const { sandbox, requests } = fakeSandbox([
      { timedOut: true, output: '', durationMs: 30_000 },
      { exitCode: 0, output: 'looprail-check: 6 bytes\nstuck\n', durationMs: 100 },
    ]);
    const ran = await runCheck(deps({ sandbox }), viewWith(), META, tests, 2);
    expect(ran.pass).toBe(false);
    expect(requests.map((request) => request.timeoutSeconds)).toEqual([30, 10]);
    expect(ran.outcome).toBe('`npm test` ran longer than its 30 s timeout and was killed, with everything it started');
    expect(ran.output).toBe('Its output, all of it:\nstuck\n');
    expect(ran.trace).toMatchObject({
      status: 'fail',
      costMicros: 3010,
      sandbox: { timedOut: true, durationMs: 30_100 },
    });
    expect(ran.trace.sandbox!.exitCode).toBeUndefined();
  });

  it('fails a command with another exit code', async () => {
    const { sandbox } = fakeSandbox([{ exitCode: 1, output: 'looprail-check: 5 bytes\nFAIL\n' }]);
    const ran = await runCheck(deps({ sandbox }), viewWith(), META, tests, 1);
    expect(ran).toMatchObject({ pass: false, outcome: '`npm test` exited 1 (expected 0) after 1.00 s' });
  });

  it('caps the timeout at the sandbox time the run has left, and runs nothing when it has none', async () => {
    const short = fakeSandbox([{ exitCode: 0 }], { usedMs: 95_500 });
    await runCheck(deps({ sandbox: short.sandbox }), viewWith(), META, tests, 1);
    expect(short.requests[0]!.timeoutSeconds).toBe(4);
    const spent = fakeSandbox([], { usedMs: 99_500 });
    const ran = await runCheck(deps({ sandbox: spent.sandbox }), viewWith(), META, tests, 1);
    expect(spent.requests).toEqual([]);
    expect(ran).toMatchObject({
      pass: false,
      outcome: '`npm test` was not run: this run has used its sandbox time (run_timeout_seconds: 100)',
      trace: { costMicros: 0 },
    });
  });

  it('says when the check ran in a fresh sandbox, whose earlier changes are gone', async () => {
    const { sandbox } = fakeSandbox([{ exitCode: 1 }], { createdAt: '2026-12-06T11:00:00.000Z' });
    const ran = await runCheck(deps({ sandbox }), viewWith(), META, tests, 1);
    expect(ran.outcome).toMatch(
      /^the run's sandbox stopped after 2026-12-06T10:00:00.000Z and this check ran in a fresh one/,
    );
    expect(ran.sandboxCreatedAt).toBe('2026-12-06T11:00:00.000Z');
  });

  it('fails, without throwing, when there is no sandbox or it cannot start', async () => {
    expect(await runCheck(deps(), viewWith({ sandbox: false }), META, tests, 1)).toMatchObject({
      pass: false,
      outcome: '`npm test` was not run: this agent declares no sandbox',
    });
    const down = await runCheck(
      deps({ sandbox: new SandboxUnavailableError('bubblewrap is not installed') }),
      viewWith(),
      META,
      tests,
      1,
    );
    expect(down.outcome).toBe('`npm test` was not run: the sandbox is unavailable (bubblewrap is not installed)');
  });

  it('withholds output a guardrail blocks, from the maker and the trace', async () => {
    const { sandbox } = fakeSandbox([
      { exitCode: 1, output: 'looprail-check: 30 bytes\nconnect prod-db.internal:5432\n' },
    ]);
    const guardrails = { deny_patterns: [{ name: 'no-prod-hosts', pattern: 'prod-db\\.internal', action: 'block' }] };
    const ran = await runCheck(deps({ sandbox }), viewWith({ guardrails }), META, tests, 1);
    expect(ran.output).toMatch(
      /^\(its output was withheld: blocked by guardrail deny_patterns\.no-prod-hosts at tool_output/,
    );
    expect(JSON.stringify(ran.trace)).not.toContain('prod-db.internal');
    expect(ran.trace.guardrails).toEqual([
      expect.objectContaining({ rule: 'deny_patterns.no-prod-hosts', action: 'block' }),
    ]);
  });

  it('passes a tool result that matches, and fails one that does not, an error, a timeout or a failure', async () => {
    const answering = (content: string, isError = false) =>
      deps({ tools: { callTool: async () => ({ content, isError }) } });
    const ok = await runCheck(answering('{"state":"green"}'), viewWith(), META, status, 1);
    expect(ok.pass).toBe(true);
    expect(ok.trace).toMatchObject({ server: 'ci', tool: 'get_status', status: 'pass', costMicros: 0 });
    expect(ok.trace.detail).toBe('ci.get_status: $.state is "green", as expected\nIts result:\n{"state":"green"}');
    const red = await runCheck(answering('{"state":"red"}'), viewWith(), META, status, 1);
    expect(red).toMatchObject({ pass: false, outcome: 'ci.get_status: $.state is "red", expected "green"' });
    expect(await runCheck(answering('no such branch', true), viewWith(), META, status, 1)).toMatchObject({
      pass: false,
      outcome: 'ci.get_status returned an error',
      output: 'Its result:\nno such branch',
    });
    const throwing = (error: Error) =>
      deps({
        tools: {
          callTool: async () => {
            throw error;
          },
        },
      });
    expect((await runCheck(throwing(new ToolTimeoutError('late')), viewWith(), META, status, 1)).outcome).toBe(
      'ci.get_status did not answer within 5 s',
    );
    expect((await runCheck(throwing(new Error('connection reset')), viewWith(), META, status, 1)).outcome).toBe(
      'ci.get_status failed: connection reset',
    );
  });

  it('refuses, at run time too, a tool the agent is not granted or that may write', async () => {
    const called: string[] = [];
    const d = deps({
      tools: {
        callTool: async (_server, tool) => {
          called.push(tool);
          return { content: '{}', isError: false };
        },
      },
    });
    const writes = ToolCheck.parse({ name: 'rerun', tool: 'ci.rerun', expect: { matches: 'ok' } });
    expect((await runCheck(d, viewWith(), META, writes, 1)).outcome).toBe(
      'ci.rerun was not called: a check may only call a read-only tool',
    );
    const elsewhere = ToolCheck.parse({ name: 'gh', tool: 'github.get_pr', expect: { matches: 'ok' } });
    expect((await runCheck(d, viewWith(), META, elsewhere, 1)).outcome).toBe(
      'github.get_pr was not called: the agent is not granted it',
    );
    expect(called).toEqual([]);
  });
});
