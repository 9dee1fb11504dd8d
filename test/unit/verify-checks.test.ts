import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateOrg } from '../../core/definitions/validate.ts';
import {
  checkFeedback,
  checkScript,
  cutTail,
  describeCommandOutcome,
  keptBytes,
  leftoverScript,
  matchResult,
  outputSection,
  readCheckOutput,
  valueAt,
} from '../../core/loop/checks.ts';
import { compileAgentView } from '../../core/run/agent-view.ts';
import { orgErrors, orgFiles } from '../support/org-files.ts';

/** `verify.checks`: its validation (file, line, field) and the pure parts of running a check. */

const ORG = orgFiles('test/fixtures/checks-org');

const errors = (overrides: Record<string, string>) => orgErrors(ORG, overrides);

const agent = (body: string) => `agent:
  name: box
  owner: tests@example.com
  model: s-stubborn
  instructions: ./instructions.md@v1
  subagents: [{ name: reviewer, model: s-checks-checker, instructions: ./checker.md@v1 }]
${body}`;

describe('verify.checks in the definition', () => {
  it('carries the checks, with their defaults, into the run snapshot', () => {
    const result = validateOrg([...ORG].map(([path, text]) => ({ path, display: path, text })));
    expect(result.problems).toEqual([]);
    const view = compileAgentView(result.catalog!, 'stubborn');
    expect(view.verify!.checks).toEqual([
      { name: 'readme', command: 'test -f README.md', cwd: '.', expect_exit_code: 0, keep_output_bytes: 4096 },
      { name: 'tests', command: 'node test.js', cwd: '.', expect_exit_code: 0, keep_output_bytes: 4096 },
    ]);
    expect(compileAgentView(result.catalog!, 'hanger').verify!.checks![0]!.timeout).toBe(2);
  });

  it('refuses a command check on an agent without a sandbox, with file, line and field', () => {
    expect(
      errors({
        'box.yaml': agent(`  verify:
    checker: reviewer
    checks:
      - { name: tests, command: npm test }
`),
      }),
    ).toEqual([
      "box.yaml:10:33: agent.verify.checks[0].command: a command check runs in the run's sandbox, but the agent declares no sandbox: add agent.sandbox (what is copied in, limits, network)",
    ]);
  });

  it('refuses a tool check that is not granted, not read-only, unknown or the sandbox, and a timeout past the sandbox', () => {
    expect(
      errors({
        'box.yaml': agent(`  mcp_servers: [sandbox, { name: notes, allow: [read_graph, create_entities] }]
  sandbox: { command_timeout_seconds: 60 }
  verify:
    checker: reviewer
    checks:
      - { name: slow, command: npm test, timeout: 5m }
      - { name: logs, tool: reports.read_text_file, expect: { matches: PASS } }
      - { name: writes, tool: notes.create_entities, expect: { matches: ok } }
      - { name: nowhere, tool: ci.get_status, expect: { equals: green } }
      - { name: shell, tool: sandbox.exec, arguments: { command: ls }, expect: { matches: . } }
`),
      }),
    ).toEqual([
      "box.yaml:12:51: agent.verify.checks[0].timeout: expected at most the sandbox's command_timeout_seconds (60 s)",
      "box.yaml:13:29: agent.verify.checks[1].tool: the agent is not granted reports.read_text_file: grant it under agent.mcp_servers (it must be declared on reports's tools)",
      'box.yaml:14:31: agent.verify.checks[2].tool: a check may only call a read-only tool: notes.create_entities is not declared read_only: true',
      'box.yaml:15:32: agent.verify.checks[3].tool: unknown server "ci": declare it in mcp-servers/ and grant it under agent.mcp_servers',
      'box.yaml:16:30: agent.verify.checks[4].tool: a check runs the sandbox with command: (e.g. command: npm test), not a call to the sandbox server',
    ]);
  });

  it('refuses a check without a name of its own, an expectation without equals or matches, a bad pattern or path', () => {
    expect(
      errors({
        'box.yaml': agent(`  mcp_servers: [sandbox, { name: notes, allow: [read_graph] }]
  sandbox: {}
  verify:
    checker: reviewer
    checks:
      - { name: graph, tool: notes.read_graph, expect: { path: $.entities } }
      - { name: graph, tool: notes.read_graph, expect: { matches: "(" } }
      - { name: path, tool: notes.read_graph, expect: { path: "entities[x]", equals: 1 } }
      - { name: out, command: npm test, keep_output_bytes: 100000 }
`),
      }),
    ).toEqual([
      'box.yaml:12:7: agent.verify.checks: expected each check to have its own name',
      'box.yaml:12:56: agent.verify.checks[0].expect: expected equals or matches (or both)',
      'box.yaml:13:67: agent.verify.checks[1].expect.matches: expected a valid regular expression',
      'box.yaml:14:63: agent.verify.checks[2].expect.path: expected a JSON path such as $.status or jobs[0].conclusion',
      'box.yaml:15:60: agent.verify.checks[3].keep_output_bytes: expected at most 65536 bytes',
    ]);
  });
});

describe('matching a tool result', () => {
  const graph = JSON.stringify({ entities: [{ name: 'ci', observations: ['red'] }], relations: [], status: 'green' });

  it('reads values at JSON paths, with or without $, through arrays and their length', () => {
    const value = JSON.parse(graph);
    expect(valueAt(value, '$.status')).toEqual({ found: true, value: 'green' });
    expect(valueAt(value, 'entities[0].observations[0]')).toEqual({ found: true, value: 'red' });
    expect(valueAt(value, '$.entities.length')).toEqual({ found: true, value: 1 });
    expect(valueAt(value, '$')).toEqual({ found: true, value });
    expect(valueAt(value, '$.entities[1]')).toEqual({ found: false });
    expect(valueAt(value, '$.missing.deeper')).toEqual({ found: false });
    expect(valueAt(value, '$.status.length')).toEqual({ found: false });
    expect(valueAt(value, '$.constructor')).toEqual({ found: false });
  });

  it('passes equal JSON whatever the key order, and says what it found when it fails', () => {
    expect(matchResult(graph, { path: '$.status', equals: 'green' })).toEqual({
      pass: true,
      detail: '$.status is "green", as expected',
    });
    expect(matchResult('{"b":1,"a":[1,2]}', { equals: undefined, matches: undefined, path: '$' }).pass).toBe(true);
    expect(matchResult('{"b":1,"a":[1,2]}', { path: '$', equals: { a: [1, 2], b: 1 } }).pass).toBe(true);
    expect(matchResult(graph, { path: '$.status', equals: 'red' })).toEqual({
      pass: false,
      detail: '$.status is "green", expected "red"',
    });
    expect(matchResult(graph, { path: '$.entities.length', equals: 0 })).toEqual({
      pass: false,
      detail: '$.entities.length is 1, expected 0',
    });
  });

  it('matches a regular expression on the whole text, or on a value (JSON for anything but a string)', () => {
    expect(matchResult('Tests: 12 passed, 0 failed', { matches: '\\b0 failed' }).pass).toBe(true);
    expect(matchResult('Tests: 11 passed, 1 failed', { matches: '\\b0 failed' })).toEqual({
      pass: false,
      detail: 'the result is "Tests: 11 passed, 1 failed", which does not match /\\b0 failed/',
    });
    expect(matchResult(graph, { path: '$.entities[0]', matches: '"name":"ci"' }).pass).toBe(true);
    expect(matchResult(graph, { path: '$.status', equals: 'green', matches: '^re' }).pass).toBe(false);
  });

  it('fails a path on a result that is not JSON, or has nothing there', () => {
    expect(matchResult('all green', { path: '$.status', equals: 'green' })).toEqual({
      pass: false,
      detail: 'the result is not JSON, so $.status cannot be read from it',
    });
    expect(matchResult(graph, { path: '$.conclusion', equals: 'success' })).toEqual({
      pass: false,
      detail: 'the result has nothing at $.conclusion',
    });
  });
});

describe('cutting a check output', () => {
  it('keeps the tail of a long text and says how much was cut', () => {
    expect(cutTail('short', 10)).toBe('short');
    expect(cutTail('0123456789abcdef', 6)).toBe('[… 10 characters cut]\nabcdef');
  });

  it('reads the header back, drops a character cut in half, and says what was kept of how much', () => {
    const output = readCheckOutput('looprail-check: 5000 bytes\n\uFFFDthe end\n');
    expect(output).toEqual({ tail: 'the end\n', totalBytes: 5000 });
    expect(outputSection(output, 8)).toBe('Its output, the last 8 bytes of 5000 (keep_output_bytes: 8):\nthe end\n');
    expect(outputSection(readCheckOutput('looprail-check: 3 bytes\nok\n'), 8)).toBe('Its output, all of it:\nok\n');
    expect(outputSection({ tail: '' }, 8)).toBe('(no output)');
    // Killed before the wrapper said anything: what came is all there is.
    expect(readCheckOutput('partial')).toEqual({ tail: 'partial' });
  });

  it('keeps within the sandbox output limit, leaving room for the header', () => {
    expect(keptBytes({ keep_output_bytes: 4096 }, 65_536)).toBe(4096);
    expect(keptBytes({ keep_output_bytes: 4096 }, 1024)).toBe(960);
  });

  it('describes how the command ended', () => {
    const check = { command: 'npm test', expect_exit_code: 0 };
    expect(describeCommandOutcome(check, { exitCode: 0, timedOut: false, durationMs: 1234 }, 60)).toBe(
      '`npm test` exited 0 after 1.23 s',
    );
    expect(describeCommandOutcome(check, { exitCode: 2, timedOut: false, durationMs: 50 }, 60)).toBe(
      '`npm test` exited 2 (expected 0) after 0.05 s',
    );
    expect(describeCommandOutcome(check, { timedOut: true, durationMs: 5000 }, 5)).toBe(
      '`npm test` ran longer than its 5 s timeout and was killed, with everything it started',
    );
    expect(describeCommandOutcome(check, { timedOut: false, durationMs: 10 }, 5)).toBe(
      '`npm test` was killed after 0.01 s',
    );
  });

  it('tells the maker which check failed, on which attempt, with its output', () => {
    const message = checkFeedback(
      { name: 'tests' },
      1,
      3,
      '`npm test` exited 1 (expected 0) after 2.00 s',
      'Its output, all of it:\nFAIL',
    );
    expect(message.role).toBe('user');
    expect(message.content[0]).toEqual({
      type: 'text',
      text: 'The check "tests" did not pass (attempt 1 of 3): `npm test` exited 1 (expected 0) after 2.00 s.\n\nIts output, all of it:\nFAIL\n\nFix this, then finish again with an updated summary. The checks run again, in order, before the reviewer sees your work.',
    });
  });
});

describe('the check script, run by sh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'looprail-check-script-'));
  mkdirSync(join(dir, '.git'));
  mkdirSync(join(dir, 'pkg'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (script: string) => spawnSync('sh', ['-c', script], { cwd: dir, encoding: 'utf8' });

  it("keeps the command's exit code and only the tail of its output, stdout and stderr together", () => {
    const command = `seq 1 1000; echo "it's done" >&2; exit 3`;
    const result = run(checkScript({ command, cwd: 'pkg' }, 20));
    expect(result.status).toBe(3);
    const output = readCheckOutput(result.stdout);
    const printed = `${Array.from({ length: 1000 }, (_, i) => `${i + 1}\n`).join('')}it's done\n`;
    expect(output.tail).toBe(printed.slice(-20));
    expect(output.totalBytes).toBe(printed.length);
    // The log is gone, and it never sat in the workspace outside .git.
    expect(readdirSync(join(dir, '.git'))).toEqual([]);
    expect(readdirSync(join(dir, 'pkg'))).toEqual([]);
  });

  it('runs in the check cwd, with nothing on stdin, and reads what a killed check left in its log', () => {
    expect(readCheckOutput(run(checkScript({ command: 'pwd; cat', cwd: 'pkg' }, 100)).stdout).tail).toBe(
      `${join(dir, 'pkg')}\n`,
    );
    expect(run(checkScript({ command: 'true', cwd: 'missing' }, 100)).status).toBe(126);
    // A timeout killed the check: its log is still in .git, and the leftover script reads and removes it.
    // (the script's first three lines: the log's path, the cwd, the command; a kill stops it there).
    const killed = run(checkScript({ command: 'echo before', cwd: '.' }, 100).split('\n').slice(0, 3).join('\n'));
    expect(killed.stdout).toBe('');
    const leftover = run(leftoverScript(100));
    expect(readCheckOutput(leftover.stdout)).toEqual({ tail: 'before\n', totalBytes: 7 });
    expect(readdirSync(join(dir, '.git'))).toEqual([]);
    expect(run(leftoverScript(100)).stdout).toBe('');
  });
});
