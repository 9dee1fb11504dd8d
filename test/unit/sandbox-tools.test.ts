import { describe, expect, it } from 'vitest';
import { SandboxSpec } from '../../core/definitions/sandbox.ts';
import type { Sandbox } from '../../core/ports/sandbox.ts';
import { callSandboxTool } from '../../core/sandbox/tools.ts';

/** The sandbox server's own rules over a recorded Sandbox (the integration tests run the real ones). */

const spec = SandboxSpec.parse({});

function sandboxCreatedAt(createdAt: string): Sandbox {
  const timed = <T>(value: T) => Promise.resolve({ value, durationMs: 10 });
  return {
    createdAt,
    usedMs: () => 0,
    exec: () =>
      timed({
        exitCode: 0,
        timedOut: false,
        outputFlood: false,
        output: 'ok\n',
        outputBytes: 3,
        truncated: false,
        durationMs: 10,
      }),
    readFile: () => timed({ content: 'text', bytes: 4, truncated: false }),
    writeFile: () => timed({ bytes: 4 }),
    listFiles: () => timed({ entries: ['a.txt'], truncated: false }),
    diff: () => timed({ content: '', bytes: 0, truncated: false }),
    runScript: () =>
      timed({
        exitCode: 0,
        timedOut: false,
        outputFlood: false,
        output: '',
        outputBytes: 0,
        truncated: false,
        durationMs: 10,
        toolCalls: 0,
      }),
  };
}

describe('the sandbox server', () => {
  it('tells the model when a later call found a fresh sandbox (the earlier one stopped), and records when each was made', async () => {
    const first = await callSandboxTool(
      { open: () => Promise.resolve(sandboxCreatedAt('2026-12-03T01:00:00.000Z')), spec, pricePerHourMicros: 0 },
      'read_file',
      { path: 'a.txt' },
    );
    expect(first).toMatchObject({ content: 'text', isError: false, sandboxCreatedAt: '2026-12-03T01:00:00.000Z' });

    const same = await callSandboxTool(
      {
        open: () => Promise.resolve(sandboxCreatedAt('2026-12-03T01:00:00.000Z')),
        spec,
        pricePerHourMicros: 0,
        createdAt: '2026-12-03T01:00:00.000Z',
      },
      'read_file',
      { path: 'a.txt' },
    );
    expect(same.content).toBe('text');

    const fresh = await callSandboxTool(
      {
        open: () => Promise.resolve(sandboxCreatedAt('2026-12-03T05:00:00.000Z')),
        spec,
        pricePerHourMicros: 0,
        createdAt: '2026-12-03T01:00:00.000Z',
      },
      'exec',
      { command: 'ls' },
    );
    expect(fresh.content).toMatch(
      /^note: the run's sandbox stopped after 2026-12-03T01:00:00.000Z and this call started a fresh one \(created 2026-12-03T05:00:00.000Z\) from copy_in: earlier changes to the workspace are gone\.\nexit code 0/,
    );
    expect(fresh.sandboxCreatedAt).toBe('2026-12-03T05:00:00.000Z');
  });

  it('refuses run_code without a bridge, before any sandbox is opened', async () => {
    let opened = 0;
    const result = await callSandboxTool(
      {
        open: () => {
          opened += 1;
          return Promise.resolve(sandboxCreatedAt('t'));
        },
        spec,
        pricePerHourMicros: 0,
      },
      'run_code',
      { code: 'console.log(1)' },
    );
    expect(result).toMatchObject({ isError: true });
    expect(result.content).toContain('code mode is not available');
    expect(opened).toBe(0);
  });

  it('refuses run_code arguments that do not fit, naming the field', async () => {
    const result = await callSandboxTool(
      {
        open: () => Promise.resolve(sandboxCreatedAt('t')),
        spec,
        pricePerHourMicros: 0,
        bridge: () => Promise.resolve({ content: '', isError: false }),
      },
      'run_code',
      { code: '', cwd: '../up' },
    );
    expect(result.isError).toBe(true);
    expect(result.content).toContain('invalid arguments for sandbox.run_code');
    expect(result.content).toContain('code: expected a JavaScript program');
    expect(result.content).toContain('cwd: expected a path relative to the workspace');
  });
});
