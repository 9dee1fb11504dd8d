import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../core/definitions/problems.ts';
import { validateOrg } from '../../core/definitions/validate.ts';
import { compileAgentView } from '../../core/run/agent-view.ts';
import { SANDBOX_DECLARATION } from '../../core/sandbox/tools.ts';
import { sandboxCostMicros } from '../../core/sandbox/tools.ts';
import { orgFiles } from '../support/org-files.ts';

/** `agent.sandbox`, the built-in sandbox server and its price, through the one validation every entry point uses. */

const ORG = orgFiles('test/fixtures/sandbox-org');

function validate(overrides: Record<string, string | null> = {}) {
  const files = new Map(ORG);
  for (const [path, text] of Object.entries(overrides)) {
    if (text === null) files.delete(path);
    else files.set(path, text);
  }
  return validateOrg([...files].map(([path, text]) => ({ path, display: path, text })));
}

const errors = (overrides: Record<string, string | null>) =>
  validate(overrides)
    .problems.filter((p) => p.severity === 'error')
    .map(formatProblem);

const agent = (body: string) => `agent:
  name: box
  owner: tests@example.com
  model: s-coder
  instructions: ./instructions.md@v1
${body}`;

describe('agent.sandbox', () => {
  it('validates the fixture org, with defaults applied and the price carried into the run snapshot', () => {
    const result = validate();
    expect(result.problems).toEqual([]);
    const coder = result.catalog!.agents.coder!.spec.sandbox!;
    expect(coder).toMatchObject({
      memory_mb: 512,
      disk_mb: 64,
      command_timeout_seconds: 60,
      run_timeout_seconds: 300,
      max_output_bytes: 8192,
      network: 'none',
      cpu: 1,
      max_processes: 256,
    });
    expect(coder.copy_in).toEqual({
      repository: { path: 'repos/calc', ref: 'HEAD' },
      files: [{ path: 'TASK.md', from_input: 'task' }],
    });
    expect(result.catalog!.servers.sandbox).toBe(SANDBOX_DECLARATION);
    const view = compileAgentView(result.catalog!, 'coder');
    expect(view.sandbox).toEqual({ spec: coder, pricePerHourMicros: 360_000, agent: 'coder' });
    // The checker works in the maker's sandbox, with only the read-only tools it was granted.
    expect(view.verify!.checker.sandbox).toEqual(view.sandbox);
    expect(view.verify!.checker.grants).toEqual([{ server: 'sandbox', allow: ['read_file', 'list_files', 'diff'] }]);
  });

  it('reports every bad field at once, each with file, line, field and what was expected', () => {
    expect(
      errors({
        'box.yaml': agent(`  mcp_servers: [sandbox]
  sandbox:
    cpu: 64
    memory_mb: 10
    command_timeout_seconds: 3600
    max_output_bytes: 0
    network: { allow: ["not a host!"] }
    copy_in:
      repository: { path: ../outside, url: "ftp://example.com/repo.git", ref: "--upload-pack=evil" }
      files: [{ path: /etc/passwd, from_input: "a..b" }]
    runtime_secret: x
`),
      }),
    ).toEqual([
      'box.yaml:8:10: agent.sandbox.cpu: expected at most 16 vCPUs',
      'box.yaml:9:16: agent.sandbox.memory_mb: expected 64 to 65536 MB',
      'box.yaml:10:30: agent.sandbox.command_timeout_seconds: expected at most 840 seconds (a tool step may take 900 s in all)',
      'box.yaml:11:23: agent.sandbox.max_output_bytes: expected a number greater than 0',
      'box.yaml:12:24: agent.sandbox.network.allow[0]: expected a host name such as registry.npmjs.org, *.github.com or example.com:443',
      'box.yaml:14:19: agent.sandbox.copy_in.repository: expected exactly one of path or url',
      'box.yaml:14:27: agent.sandbox.copy_in.repository.path: expected a path relative to the workspace, without a leading / or any ..',
      'box.yaml:14:44: agent.sandbox.copy_in.repository.url: expected an https:// or file:// repository URL',
      'box.yaml:14:79: agent.sandbox.copy_in.repository.ref: expected a branch, tag or commit, such as main or v1.2.0',
      'box.yaml:15:23: agent.sandbox.copy_in.files[0].path: expected a path relative to the workspace, without a leading / or any ..',
      'box.yaml:15:48: agent.sandbox.copy_in.files[0].from_input: expected a dotted path into the input, such as issue.body',
      'box.yaml:16:5: agent.sandbox.runtime_secret: unknown key "runtime_secret"; expected one of: image, cpu, memory_mb, disk_mb, command_timeout_seconds, run_timeout_seconds, max_output_bytes, max_processes, max_script_tool_calls, network, copy_in',
    ]);
  });

  it('wants exactly one of a repository path or URL', () => {
    expect(
      errors({
        'box.yaml': agent('  mcp_servers: [sandbox]\n  sandbox: { copy_in: { repository: { ref: main } } }\n'),
      }),
    ).toEqual(['box.yaml:7:37: agent.sandbox.copy_in.repository: expected exactly one of path or url']);
  });

  it('refuses the sandbox server to an agent or sub-agent of an agent that declares no sandbox, and warns of a sandbox nobody may use', () => {
    expect(
      errors({
        'box.yaml': agent(`  mcp_servers: [sandbox]
  subagents:
    - name: helper
      mcp_servers: [{ name: sandbox, allow: [read_file] }]
`),
      }),
    ).toEqual([
      'box.yaml:6:17: agent.mcp_servers[0]: the sandbox server is granted, but the agent declares no sandbox: add agent.sandbox (limits, network, what is copied in)',
      'box.yaml:9:29: agent.subagents[0].mcp_servers[0].name: the sandbox server is granted, but the agent declares no sandbox: add agent.sandbox (limits, network, what is copied in)',
    ]);
    const unused = validate({ 'box.yaml': agent('  sandbox: {}\n') }).problems.map(formatProblem);
    expect(unused).toContain(
      'box.yaml:6:12: warning: agent.sandbox: a sandbox is declared, but neither the agent nor a sub-agent is granted the sandbox server, so nothing can use it',
    );
  });

  it('refuses a checker granted exec or write_file: it may only read the workspace', () => {
    expect(
      errors({
        'coder.yaml': ORG.get('coder.yaml')!.replace(
          'allow: [read_file, list_files, diff]',
          'allow: [read_file, exec]',
        ),
      }),
    ).toEqual([
      'coder.yaml:25:9: agent.subagents[0].mcp_servers: checker "reviewer" may only hold read-only tools, but is granted sandbox.exec (deny them, or declare them read_only in their server file if they truly are)',
    ]);
  });

  it('keeps the name sandbox and the builtin transport for looprail itself', () => {
    expect(
      errors({
        'mcp-servers/sandbox.yaml':
          'name: sandbox\ntransport: { type: stdio, command: my-sandbox }\ntools: { exec: {} }\n',
        'mcp-servers/sneaky.yaml': 'name: sneaky\ntransport: { type: builtin }\ntools: { exec: {} }\n',
      }),
    ).toEqual([
      `mcp-servers/sandbox.yaml:1:7: name: "sandbox" is looprail's built-in sandbox server: declare the sandbox with agent.sandbox, and pick another name for this server`,
      "mcp-servers/sneaky.yaml:2:20: transport.type: transport builtin is reserved for looprail's own servers: expected stdio or http",
    ]);
  });

  it('prices sandbox time from models.yaml, and refuses a bad price', () => {
    expect(
      errors({
        'models.yaml': ORG.get('models.yaml')!.replace('price_per_hour_usd: 0.36', 'price_per_hour_usd: cheap'),
      }),
    ).toEqual(['models.yaml:10:23: sandbox.price_per_hour_usd: expected USD per sandbox hour, such as 0.05']);
    const free = validate({ 'models.yaml': ORG.get('models.yaml')!.replace(/sandbox:\n.*\n.*\n/, '') });
    expect(compileAgentView(free.catalog!, 'coder').sandbox!.pricePerHourMicros).toBe(0);
    // 100 micro-USD a second at $0.36 an hour, rounded per call.
    expect(sandboxCostMicros(1500, 360_000)).toBe(150);
    expect(sandboxCostMicros(4, 360_000)).toBe(0);
    expect(sandboxCostMicros(5, 360_000)).toBe(1);
  });
});
