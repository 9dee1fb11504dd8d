import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What the runtime SDK's import costs, and where that time goes: the part of a cold start
 * the bundles do not control, measured so the report can say what would cut it.
 *
 * - How it is loaded: an ESM `import` of the SDK's CommonJS packages makes Node's ESM loader
 *   first detect each file's module format and scan its exports; a `require()` of the same
 *   packages skips both, which is why the bundles load the packages they need at init
 *   through `require()` shims (LAMBDA_RUNTIME_SDK_REQUIRES in
 *   infra/constructs/handler-function.ts). Both ways are timed, each in fresh processes.
 * - Where the time goes: a CPU profile (`--cpu-prof`) of loading them the way the bundles
 *   do, less the profile of a process that loads nothing, its samples summed by what they
 *   were doing.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** What a sample was doing, first match up its stack wins. */
const CATEGORIES: Array<{ name: string; matches: (frames: ProfileNode['callFrame'][]) => boolean }> = [
  { name: 'garbage collection', matches: ([self]) => self!.functionName === '(garbage collector)' },
  {
    name: "the ESM loader's format detection and export scan of CommonJS files",
    matches: (frames) =>
      frames.some((frame) => ['detectModuleFormat', 'cjsPreparseModuleExports'].includes(frame.functionName)),
  },
  {
    name: 'Node built-ins the SDK loads (http, http2, https, tls, crypto, zlib, …)',
    matches: (frames) => frames.some((frame) => frame.functionName === 'compileForPublicLoader'),
  },
  {
    name: "compiling the SDK's JavaScript",
    matches: ([self]) =>
      ['wrapSafe', 'compileFunctionForCJSLoader', 'compileSourceTextModule'].includes(self!.functionName),
  },
  { name: "running the SDK's module code", matches: ([self]) => self!.url.includes('/node_modules/') },
  {
    name: 'resolving, reading and wrapping files (module loader)',
    matches: ([self]) => self!.url.startsWith('node:') || self!.functionName !== '(program)',
  },
  { name: 'other (V8 and native time outside JavaScript)', matches: () => true },
];

/** `…/node_modules/@smithy/core/dist-cjs/…` → `@smithy/core`. */
function packageOf(url: string): string | undefined {
  const at = url.lastIndexOf('/node_modules/');
  if (at < 0) return undefined;
  const parts = url.slice(at + '/node_modules/'.length).split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

/** Milliseconds per category in one profile (idle time left out), and the module code's per package (`package:` keys). */
function categorize(profile: CpuProfile): Map<string, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const totals = new Map<string, number>(CATEGORIES.map(({ name }) => [name, 0]));
  profile.samples.forEach((id, i) => {
    if (byId.get(id)!.callFrame.functionName === '(idle)') return;
    const frames: ProfileNode['callFrame'][] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) frames.push(byId.get(at)!.callFrame);
    const { name } = CATEGORIES.find((category) => category.matches(frames))!;
    const sampleMs = (profile.timeDeltas[i] ?? 0) / 1000;
    totals.set(name, totals.get(name)! + sampleMs);
    const pkg = packageOf(frames[0]!.url);
    if (pkg) totals.set(`package:${pkg}`, (totals.get(`package:${pkg}`) ?? 0) + sampleMs);
  });
  return totals;
}

/** One fresh process running `script` under the profiler, its profile's categories. */
async function profiled(script: string, cwd: string): Promise<Map<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'looprail-sdk-profile-'));
  try {
    const run = spawnSync(
      process.execPath,
      ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval', '100', '--input-type=module', '-e', script],
      { cwd, env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1' }, encoding: 'utf8' },
    );
    if (run.status !== 0) throw new Error(`profiling the SDK import failed: ${run.stderr.split('\n')[0]}`);
    const [file] = await readdir(dir);
    return categorize(JSON.parse(await readFile(join(dir, file!), 'utf8')) as CpuProfile);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ms = (value: number) => Number(value.toFixed(1));

/**
 * The script a child runs: the packages loaded with ESM `import` or with `require()` (set up
 * before the clock starts, as the bundles' shims set theirs up before they load anything).
 */
function loading(packages: readonly string[], via: 'import' | 'require'): string {
  const load = packages
    .map((name) => (via === 'import' ? `await import(${JSON.stringify(name)});` : `require(${JSON.stringify(name)});`))
    .join(' ');
  return `const require = (await import('node:module')).createRequire(process.cwd() + '/'); const c = process.cpuUsage(); const t = performance.now(); ${load} const u = process.cpuUsage(c); process.stdout.write(JSON.stringify({ wall: performance.now() - t, cpu: (u.user + u.system) / 1000 }));`;
}

function timed(script: string, cwd: string): { wall: number; cpu: number } {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd,
    env: { PATH: process.env.PATH, AWS_REGION: 'us-east-1' },
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`importing the SDK failed: ${run.stderr.split('\n')[0]}`);
  return JSON.parse(run.stdout) as { wall: number; cpu: number };
}

/**
 * `packages` loaded from the node_modules under `cwd` (the runtime's SDK beside the
 * bundles): import() against require(), `runs` fresh processes each (interleaved, so a
 * busy moment hits both), and the profile of loading them `via` the way the bundles do, by
 * category (median of 3).
 */
export async function sdkImportCost(packages: readonly string[], cwd: string, via: 'import' | 'require', runs = 10) {
  const samples = {
    import: [] as Array<{ wall: number; cpu: number }>,
    require: [] as Array<{ wall: number; cpu: number }>,
  };
  for (let i = 0; i < runs; i++) {
    samples.import.push(timed(loading(packages, 'import'), cwd));
    samples.require.push(timed(loading(packages, 'require'), cwd));
  }
  const profiles: Array<Map<string, number>> = [];
  const baselines: Array<Map<string, number>> = [];
  for (let i = 0; i < 3; i++) {
    profiles.push(await profiled(loading(packages, via), cwd));
    baselines.push(await profiled(loading([], via), cwd));
  }
  const sampled = CATEGORIES.map(({ name }) => ({
    name,
    ms: Math.max(0, median(profiles.map((p) => p.get(name)!)) - median(baselines.map((p) => p.get(name)!))),
  }));
  const p50 = (values: Array<{ wall: number; cpu: number }>, key: 'wall' | 'cpu') =>
    ms(median(values.map((v) => v[key])));
  // A sample's time runs until the next one, so a busy machine stretches it: the shares are
  // what the profile says, the milliseconds those shares of the measured CPU time.
  const sum = sampled.reduce((total, category) => total + category.ms, 0) || 1;
  const categories = sampled
    .map((category) => ({
      name: category.name,
      share: Number((category.ms / sum).toFixed(3)),
      ms: ms((category.ms / sum) * p50(samples[via], 'cpu')),
    }))
    .sort((a, b) => b.ms - a.ms);
  // The module code by package (the median profile's keys), to say which parts of the SDK run at import.
  const packageKeys = [...new Set(profiles.flatMap((profile) => [...profile.keys()]))].filter((key) =>
    key.startsWith('package:'),
  );
  const byPackage = packageKeys
    .map((key) => ({
      name: key.slice('package:'.length),
      ms: ms((median(profiles.map((profile) => profile.get(key) ?? 0)) / sum) * p50(samples[via], 'cpu')),
    }))
    .sort((a, b) => b.ms - a.ms);
  return {
    packages: [...packages],
    /** How the bundles load them, so how the profile below loaded them. */
    loaded_via: via,
    import_p50_ms: p50(samples.import, 'wall'),
    import_cpu_p50_ms: p50(samples.import, 'cpu'),
    require_p50_ms: p50(samples.require, 'wall'),
    require_cpu_p50_ms: p50(samples.require, 'cpu'),
    profile: categories,
    module_code_by_package: byPackage,
  };
}
