import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BubblewrapSandboxes } from '../adapters/sandbox/bubblewrap.ts';
import { SandboxSpec } from '../core/definitions/sandbox.ts';

/**
 * What the local sandbox costs per call: creating one (copy-in of the fixture repository,
 * git init, the starting snapshot) and a command under bubblewrap (prlimit, setpriv, new
 * namespaces) against the same command run directly.
 */

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const round = (n: number) => Number(n.toFixed(1));

export async function sandboxOverhead(calls = 30) {
  const root = await mkdtemp(join(tmpdir(), 'looprail-bench-sandbox-'));
  await chmod(root, 0o711);
  const provider = new BubblewrapSandboxes({ root, orgDir: 'test/fixtures/sandbox-org' });
  const spec = SandboxSpec.parse({ copy_in: { repository: { path: 'repos/calc' } } });
  try {
    const created = performance.now();
    const sandbox = await provider.open({ sandboxId: 'bench', agent: 'coder', spec, input: {} });
    const createMs = performance.now() - created;
    const measure = async (fn: () => Promise<unknown>) => {
      const times: number[] = [];
      for (let i = 0; i < calls; i++) {
        const start = performance.now();
        await fn();
        times.push(performance.now() - start);
      }
      return { p50_ms: round(percentile(times, 50)), p99_ms: round(percentile(times, 99)) };
    };
    const { execFile } = await import('node:child_process');
    const direct = await measure(() => new Promise((resolve) => execFile('/bin/sh', ['-c', 'true'], resolve)));
    const exec = await measure(() => sandbox.exec({ command: 'true', cwd: '.', timeoutSeconds: 30 }));
    const node = await measure(() => sandbox.exec({ command: 'node test.js', cwd: '.', timeoutSeconds: 30 }));
    const read = await measure(() => sandbox.readFile('src/sum.js', 65_536));
    const diff = await measure(() => sandbox.diff(65_536));
    // Code mode: a script whose 10 tool calls cross the bridge (answered at once here, so this is the bridge's own cost).
    const bridge = () => Promise.resolve({ content: 'result', isError: false });
    const script = await measure(() =>
      sandbox.runScript(
        { code: 'for (let i = 0; i < 10; i++) await tools.call("echo.echo", { i });', cwd: '.', timeoutSeconds: 30 },
        bridge,
      ),
    );
    const emptyScript = await measure(() =>
      sandbox.runScript({ code: 'console.log(1);', cwd: '.', timeoutSeconds: 30 }, bridge),
    );
    return {
      calls,
      create_ms: round(createMs),
      direct_sh_true: direct,
      exec_true: exec,
      exec_node_test: node,
      read_file: read,
      diff,
      run_code_empty: emptyScript,
      run_code_10_calls: script,
    };
  } finally {
    await provider.destroy('bench');
    await rm(root, { recursive: true, force: true });
  }
}

export function sandboxMarkdown(result: Awaited<ReturnType<typeof sandboxOverhead>>): string {
  const row = (name: string, m: { p50_ms: number; p99_ms: number }) => `| ${name} | ${m.p50_ms} ms | ${m.p99_ms} ms |`;
  return `
## Local sandbox (bubblewrap)

Creating a run's sandbox (copy-in of test/fixtures/sandbox-org/repos/calc, git init, snapshot): ${result.create_ms} ms. Then ${result.calls} calls each:

| call | p50 | p99 |
|---|---|---|
${row('`sh -c true` directly (no sandbox)', result.direct_sh_true)}
${row('exec `true`', result.exec_true)}
${row('exec `node test.js`', result.exec_node_test)}
${row('read_file', result.read_file)}
${row('diff', result.diff)}
${row('run_code, no tool call', result.run_code_empty)}
${row('run_code, 10 bridged tool calls', result.run_code_10_calls)}

A bridged call costs about ${round((result.run_code_10_calls.p50_ms - result.run_code_empty.p50_ms) / 10)} ms (p50 difference / 10) on top of the tool's own time.
`;
}

if (import.meta.main) console.log(JSON.stringify(await sandboxOverhead(), null, 2));
