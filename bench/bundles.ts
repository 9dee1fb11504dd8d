import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { loadOrgFolder } from '../adapters/catalog/fs-loader.ts';
import type { Catalog } from '../core/definitions/catalog.ts';
import {
  bundleHandler,
  LAMBDA_RUNTIME_EXTERNALS,
  LAMBDA_RUNTIME_SDK_REQUIRES,
  NODE22_ESM_BUNDLE,
  PROJECT_ROOT,
} from '../infra/constructs/handler-function.ts';
import { catalogBundling, STEP_SPECS } from '../infra/constructs/step-functions.ts';
import { sdkImportCost } from './sdk-profile.ts';

/**
 * Bundle size and cold import time per Lambda handler, bundled the way HandlerFunction
 * (infra/constructs/handler-function.ts) has CDK bundle them: ESM, node22, minified, the
 * createRequire banner, the DynamoDB packages aliased to shims that `require()` them and
 * ajv to its stand-in, an external source map without sources, and the catalog inlined
 * where the constructs inline it. The AWS SDK is left to the runtime
 * (LAMBDA_RUNTIME_EXTERNALS) and resolved, as Lambda resolves the SDK it carries, from a
 * node_modules beside the bundles holding only `@aws-sdk/*`.
 *
 * Each bundle is imported in a fresh Node process with the environment Lambda gives it (no
 * NODE_OPTIONS: source maps are parsed only when debugging), in two timed phases: the
 * runtime SDK packages it loads at init, loaded the way it loads them (`require()` through
 * a shim, or ESM `import`), then the bundle on top of them, so the report
 * tells what our own code costs from what the SDK costs (sdk-profile.ts says where the
 * SDK's time goes).
 *
 * The same handlers are built and imported from a `before` commit in the same run, on the
 * same machine, deployed as that commit deployed them, so each figure has its before beside it.
 */

/** The last commit before the bundles were cut (issue 22); `LOOPRAIL_BENCH_BUNDLES_BEFORE=<ref>` picks another. */
export const BUNDLES_BEFORE_REF = '41a25d4f170680929d11630e74954688ca100c8c';
/** What every function's environment had before source maps became a debug setting. */
const BEFORE_NODE_OPTIONS = '--enable-source-maps';

interface HandlerEntry {
  name: string;
  entry: string;
  withCatalog: boolean;
}

/** The handlers the constructs deploy (step-functions.ts, trigger-functions.ts, http-api.ts, approvals.ts). */
function handlerEntries(): HandlerEntry[] {
  const steps = Object.entries(STEP_SPECS).map(([name, spec]) => ({
    name,
    entry: spec.entry,
    withCatalog: name === 'StartRun',
  }));
  return [
    ...steps,
    { name: 'Schedule', entry: 'functions/trigger/schedule.ts', withCatalog: true },
    { name: 'Event', entry: 'functions/trigger/event.ts', withCatalog: true },
    { name: 'HttpApp', entry: 'functions/http/handler.ts', withCatalog: true },
    { name: 'Approvals', entry: 'functions/approval/http.ts', withCatalog: false },
    { name: 'ApprovalReminders', entry: 'functions/approval/reminders.ts', withCatalog: false },
  ];
}

/** `node_modules/@aws-sdk/client-dynamodb/dist-es/…` → `@aws-sdk/client-dynamodb`; our own sources → `looprail (own code)`. */
function packageOf(input: string): string {
  const at = input.lastIndexOf('node_modules/');
  if (at < 0) return 'looprail (own code)';
  const parts = input.slice(at + 'node_modules/'.length).split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

function topContributors(output: Metafile['outputs'][string], count = 5) {
  const byPackage = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    byPackage.set(packageOf(input), (byPackage.get(packageOf(input)) ?? 0) + bytesInOutput);
  }
  return [...byPackage.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, bytes]) => ({ name, bytes }));
}

/** One cold start in a fresh process: wall and CPU milliseconds of each phase, resident and heap bytes after it. */
interface Imported {
  /** The runtime's SDK packages the bundle loads at init, loaded first (0 when it loads none). */
  sdk: number;
  sdk_cpu: number;
  /** Then the bundle itself: what its own code costs on top of the SDK. */
  own: number;
  wall: number;
  own_cpu: number;
  cpu: number;
  rss: number;
  heap: number;
}

/**
 * A cold import in a fresh child (Node's own start-up excluded), in two timed phases: the
 * runtime SDK packages the bundle loads at init, loaded the way the bundle loads them
 * (from the node_modules beside the bundles, as Lambda resolves the SDK it carries), then
 * the bundle, which finds them loaded (one module cache for `require` and `import`). Wall
 * time and the CPU time used, which a busy machine inflates less.
 */
function importOnce(file: string, nodeOptions: string, sdk: readonly SdkAtInit[]): Promise<Imported> {
  const loadSdk = sdk
    .map(({ name, via }) =>
      via === 'require' ? `sdkRequire(${JSON.stringify(name)});` : `await import(${JSON.stringify(name)});`,
    )
    .join(' ');
  // The bundles' shims call createRequire(import.meta.url): this one resolves from the same folder.
  const script = `const sdkRequire = (await import('node:module')).createRequire(process.cwd() + '/'); const c = process.cpuUsage(); const t = performance.now(); ${loadSdk} const s = performance.now(); const sc = process.cpuUsage(c); const cs = process.cpuUsage(); await import(${JSON.stringify(pathToFileURL(file).href)}); const e = performance.now(); const own = process.cpuUsage(cs); const u = process.cpuUsage(c); const m = process.memoryUsage(); process.stdout.write(JSON.stringify({ sdk: s - t, sdk_cpu: (sc.user + sc.system) / 1000, own: e - s, wall: e - t, own_cpu: (own.user + own.system) / 1000, cpu: (u.user + u.system) / 1000, rss: m.rss, heap: m.heapUsed }));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      // Bare SDK names resolve from here: the bundle's folder, below the runtime's node_modules.
      cwd: dirname(file),
      // What Lambda's environment gives the handler at init; no credentials are needed to import.
      env: {
        PATH: process.env.PATH,
        ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
        AWS_REGION: 'us-east-1',
        LOOPRAIL_TABLE_NAME: 'bench',
        LOOPRAIL_SECRETS: 'aws',
        LOOPRAIL_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:bench',
        LOOPRAIL_PUBLIC_URL: 'https://bench.example',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as Imported)
        : reject(new Error(`importing ${file} failed (${code}): ${err.split('\n').slice(0, 5).join('\n')}`)),
    );
  });
}

/** A runtime SDK package a bundle loads at init, and how: ESM `import`, or `require()` through its shim. */
export interface SdkAtInit {
  name: string;
  via: 'import' | 'require';
}

/**
 * The outputs a cold start loads (index.mjs and the chunks it imports statically), as one
 * output whose inputs and imports are theirs together; and what the whole asset weighs.
 */
function loadedAtInit(metafile: Metafile): {
  output: Metafile['outputs'][string];
  assetBytes: number;
  mapBytes: number;
} {
  const outputs = metafile.outputs;
  const index = Object.keys(outputs).find((path) => path.endsWith('index.mjs'))!;
  const loaded = new Set([index]);
  for (const path of loaded)
    for (const imported of outputs[path]!.imports)
      if (imported.kind === 'import-statement' && outputs[imported.path]) loaded.add(imported.path);
  const parts = [...loaded].map((path) => outputs[path]!);
  const files = Object.entries(outputs);
  return {
    output: {
      ...outputs[index]!,
      bytes: parts.reduce((sum, part) => sum + part.bytes, 0),
      inputs: Object.assign({}, ...parts.map((part) => part.inputs)),
      imports: parts.flatMap((part) => part.imports),
    },
    assetBytes: files.filter(([path]) => path.endsWith('.mjs')).reduce((sum, [, file]) => sum + file.bytes, 0),
    mapBytes: files.filter(([path]) => path.endsWith('.mjs.map')).reduce((sum, [, file]) => sum + file.bytes, 0),
  };
}

/**
 * The `@aws-sdk/*` packages a bundle loads at init: the external ones it imports statically,
 * and those whose `require()` shim (LAMBDA_RUNTIME_SDK_REQUIRES) it imports statically.
 */
function sdkAtInit(metafile: Metafile, output: Metafile['outputs'][string]): SdkAtInit[] {
  const imported = output.imports
    .filter(
      (imported) => imported.external && imported.kind === 'import-statement' && imported.path.startsWith('@aws-sdk/'),
    )
    .map((imported) => imported.path);
  const staticImports = Object.keys(output.inputs).flatMap((input) =>
    (metafile.inputs[input]?.imports ?? []).filter((i) => i.kind === 'import-statement').map((i) => i.path),
  );
  const required = Object.entries(LAMBDA_RUNTIME_SDK_REQUIRES)
    .filter(([, shim]) => {
      const path = relative(PROJECT_ROOT, shim);
      return staticImports.some((input) => input.endsWith(path));
    })
    .map(([name]) => name);
  return [
    ...[...new Set(imported)].map((name) => ({ name, via: 'import' as const })),
    ...required.map((name) => ({ name, via: 'require' as const })),
  ].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * What Lambda's Node runtime carries in /var/runtime/node_modules: `@aws-sdk/*`, here as
 * links to the project's copies in `<dir>/node_modules`, which the bundles below `dir` resolve
 * their SDK imports from (any other missing module still fails, as on Lambda).
 */
async function runtimeSdk(dir: string): Promise<void> {
  const sdk = join(dir, 'node_modules', '@aws-sdk');
  await mkdir(sdk, { recursive: true });
  const projectSdk = join(PROJECT_ROOT, 'node_modules', '@aws-sdk');
  for (const name of await readdir(projectSdk)) await symlink(join(projectSdk, name), join(sdk, name), 'dir');
}

/** Nearest-rank percentile. */
const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * values.length) - 1)]!;
const ms = (value: number) => Number(value.toFixed(1));

interface Measured {
  /** What a cold start loads: index.mjs and the chunks it imports. */
  bytes: number;
  /** Every .mjs of the asset, the chunks loaded on first use included. */
  asset_bytes: number;
  source_map_bytes: number;
  /** The runtime's SDK packages the bundle loads when it is loaded, and how (the others it imports on first use). */
  sdk_at_init: SdkAtInit[];
  /** The runtime SDK packages alone, imported first in the same process. */
  sdk_import_p50_ms: number;
  sdk_import_p99_ms: number;
  sdk_import_cpu_p50_ms: number;
  /**
   * The same packages loaded with ESM `import` instead, as the bundles loaded them before
   * they `require()` them (runs interleaved with the ones above, so a busy moment hits both).
   */
  sdk_as_esm_import?: { p50_ms: number; cpu_p50_ms: number };
  /** The bundle on top of them: what looprail's own code (and its bundled dependencies) costs. */
  own_import_p50_ms: number;
  own_import_p99_ms: number;
  own_import_cpu_p50_ms: number;
  /** Both: the whole cold import. */
  cold_import_p50_ms: number;
  cold_import_p99_ms: number;
  cold_import_cpu_p50_ms: number;
  /** The process after the import, p50: what the function holds before its first event (ModelStep's memory is sized from it). */
  rss_after_import_mb: number;
  heap_after_import_mb: number;
}

/** Builds one handler from the tree at `root` into `outdir` and imports it `imports` times. */
async function measure(
  root: string,
  handler: HandlerEntry,
  outdir: string,
  options: {
    catalog: Catalog;
    imports: number;
    nodeOptions: string;
    external: readonly string[];
    /** Bundled as HandlerFunction bundles it now (bundleHandler), rather than as the `before` commit did. */
    deployed?: boolean;
  },
): Promise<Measured & { output: Metafile['outputs'][string] }> {
  await mkdir(outdir, { recursive: true });
  const outfile = join(outdir, 'index.mjs');
  const catalogOptions = handler.withCatalog ? catalogBundling(options.catalog) : {};
  const result = options.deployed
    ? // As the stack bundles it now: index.mjs and the chunks beside it.
      bundleHandler(join(root, handler.entry), outdir, { projectRoot: root, ...catalogOptions })
    : // As the `before` commit bundled it: one file.
      await build({
        entryPoints: [join(root, handler.entry)],
        outfile,
        ...NODE22_ESM_BUNDLE,
        mainFields: [...NODE22_ESM_BUNDLE.mainFields],
        sourcemap: true,
        sourcesContent: false,
        tsconfig: join(root, 'tsconfig.json'),
        external: [...options.external],
        metafile: true,
        logLevel: 'error',
        ...catalogOptions,
      });
  const { output, assetBytes, mapBytes } = loadedAtInit(result.metafile);
  const sdk = sdkAtInit(result.metafile, output);
  const asImport = sdk.some(({ via }) => via === 'require')
    ? sdk.map(({ name }) => ({ name, via: 'import' as const }))
    : [];
  const runs: Imported[] = [];
  const importRuns: Imported[] = [];
  for (let i = 0; i < options.imports; i++) {
    runs.push(await importOnce(outfile, options.nodeOptions, sdk));
    if (asImport.length > 0) importRuns.push(await importOnce(outfile, options.nodeOptions, asImport));
  }
  const at = (key: keyof Imported, p: number, of = runs) =>
    ms(
      percentile(
        of.map((run) => run[key]),
        p,
      ),
    );
  return {
    bytes: output.bytes,
    asset_bytes: assetBytes,
    source_map_bytes: mapBytes,
    sdk_at_init: sdk,
    sdk_import_p50_ms: at('sdk', 50),
    sdk_import_p99_ms: at('sdk', 99),
    sdk_import_cpu_p50_ms: at('sdk_cpu', 50),
    ...(importRuns.length > 0
      ? { sdk_as_esm_import: { p50_ms: at('sdk', 50, importRuns), cpu_p50_ms: at('sdk_cpu', 50, importRuns) } }
      : {}),
    own_import_p50_ms: at('own', 50),
    own_import_p99_ms: at('own', 99),
    own_import_cpu_p50_ms: at('own_cpu', 50),
    cold_import_p50_ms: at('wall', 50),
    cold_import_p99_ms: at('wall', 99),
    cold_import_cpu_p50_ms: at('cpu', 50),
    rss_after_import_mb: ms(
      percentile(
        runs.map((run) => run.rss),
        50,
      ) / 1_048_576,
    ),
    heap_after_import_mb: ms(
      percentile(
        runs.map((run) => run.heap),
        50,
      ) / 1_048_576,
    ),
    output,
  };
}

/** The `before` commit's tree in `dir` (sharing this checkout's node_modules), or why there is none. */
async function checkoutBefore(ref: string, dir: string): Promise<string | undefined> {
  if (!/^[\w./-]+$/.test(ref)) return `not a git ref: ${JSON.stringify(ref)}`;
  const archive = spawnSync(
    'sh',
    ['-c', `git -C "$1" archive --format=tar "$2" | tar -x -C "$3"`, 'sh', PROJECT_ROOT, ref, dir],
    {
      encoding: 'utf8',
    },
  );
  if (archive.status !== 0 || !existsSync(join(dir, 'package.json')))
    return `git archive ${ref} failed: ${archive.stderr.trim().split('\n')[0]}`;
  await symlink(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return undefined;
}

/**
 * How the `before` commit deployed its bundles, read from its HandlerFunction: until the
 * bundles were cut, the SDK bundled (`bundleAwsSDK: true`) and source maps parsed at every
 * start; from then on, the runtime's SDK and source maps only when debugging.
 */
function beforeSettings(beforeRoot: string): { nodeOptions: string; external: readonly string[] } {
  const construct = readFileSync(join(beforeRoot, 'infra/constructs/handler-function.ts'), 'utf8');
  return {
    nodeOptions: construct.includes('DEBUG_CONTEXT') ? '' : BEFORE_NODE_OPTIONS,
    external: construct.includes('LAMBDA_RUNTIME_EXTERNALS') ? LAMBDA_RUNTIME_EXTERNALS : [],
  };
}

type HandlerFigures = HandlerEntry &
  Measured & {
    top_contributors: Array<{ name: string; bytes: number }>;
    before?: Pick<
      Measured,
      | 'bytes'
      | 'sdk_import_p50_ms'
      | 'own_import_p50_ms'
      | 'cold_import_p50_ms'
      | 'cold_import_p99_ms'
      | 'cold_import_cpu_p50_ms'
    >;
  };

export async function handlerBundles(
  imports = 20,
  beforeRef = process.env.LOOPRAIL_BENCH_BUNDLES_BEFORE ?? BUNDLES_BEFORE_REF,
) {
  const { catalog } = await loadOrgFolder(join(PROJECT_ROOT, 'agents'));
  if (!catalog) throw new Error('agents/ does not validate');
  const dir = await mkdtemp(join(tmpdir(), 'looprail-bundles-'));
  const handlers: HandlerFigures[] = [];
  try {
    const beforeRoot = join(dir, 'before-tree');
    await mkdir(beforeRoot);
    const beforeMissing = await checkoutBefore(beforeRef, beforeRoot);
    await runtimeSdk(dir);
    for (const handler of handlerEntries()) {
      const { output, ...now } = await measure(PROJECT_ROOT, handler, join(dir, 'now', handler.name), {
        catalog,
        imports,
        nodeOptions: '',
        external: LAMBDA_RUNTIME_EXTERNALS,
        deployed: true,
      });
      let before: HandlerFigures['before'];
      if (!beforeMissing && existsSync(join(beforeRoot, handler.entry))) {
        const measured = await measure(beforeRoot, handler, join(dir, 'before', handler.name), {
          catalog,
          imports,
          ...beforeSettings(beforeRoot),
        });
        before = {
          bytes: measured.bytes,
          sdk_import_p50_ms: measured.sdk_import_p50_ms,
          own_import_p50_ms: measured.own_import_p50_ms,
          cold_import_p50_ms: measured.cold_import_p50_ms,
          cold_import_p99_ms: measured.cold_import_p99_ms,
          cold_import_cpu_p50_ms: measured.cold_import_cpu_p50_ms,
        };
      }
      handlers.push({ ...handler, ...now, top_contributors: topContributors(output), ...(before ? { before } : {}) });
    }
    const largest = await sourceMapCost(handlers, dir, imports);
    const sdkCost = await sdkImportCost(
      [...new Set(handlers.flatMap((handler) => handler.sdk_at_init.map((sdk) => sdk.name)))].sort(),
      dir,
      // How the bundles load them now; sdkImportCost times the other way too.
      handlers.some((handler) => handler.sdk_at_init.some((sdk) => sdk.via === 'import')) ? 'import' : 'require',
    );
    return summary(
      imports,
      handlers,
      largest,
      sdkCost,
      beforeMissing ? { ref: beforeRef, missing: beforeMissing } : { ref: beforeRef },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The largest handler imported again with `--enable-source-maps` (what `-c looprail:debug=true` deploys). */
async function sourceMapCost(handlers: HandlerFigures[], dir: string, imports: number) {
  const largest = handlers.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const outfile = join(dir, 'now', largest.name, 'index.mjs');
  const wall: number[] = [];
  for (let i = 0; i < imports; i++)
    wall.push((await importOnce(outfile, '--enable-source-maps', largest.sdk_at_init)).wall);
  return {
    handler: largest.name,
    cold_import_p50_ms: largest.cold_import_p50_ms,
    with_source_maps_p50_ms: ms(percentile(wall, 50)),
  };
}

function summary(
  imports: number,
  handlers: HandlerFigures[],
  largest: {
    handler: string;
    cold_import_p50_ms: number;
    with_source_maps_p50_ms: number;
  },
  runtimeSdk: Awaited<ReturnType<typeof sdkImportCost>>,
  before: { ref: string; missing?: string },
) {
  const measuredBefore = handlers.flatMap((handler) => (handler.before ? [handler.before] : []));
  return {
    imports_per_handler: imports,
    before,
    handlers,
    largest,
    runtime_sdk: runtimeSdk,
    max_bytes: Math.max(...handlers.map((handler) => handler.bytes)),
    max_own_import_p50_ms: Math.max(...handlers.map((handler) => handler.own_import_p50_ms)),
    max_sdk_import_p50_ms: Math.max(...handlers.map((handler) => handler.sdk_import_p50_ms)),
    max_cold_import_p50_ms: Math.max(...handlers.map((handler) => handler.cold_import_p50_ms)),
    ...(measuredBefore.length > 0
      ? {
          before_max_bytes: Math.max(...measuredBefore.map((figures) => figures.bytes)),
          before_max_cold_import_p50_ms: Math.max(...measuredBefore.map((figures) => figures.cold_import_p50_ms)),
        }
      : {}),
  };
}

/** Run alone: `node bench/bundles.ts [imports]` prints the figures. */
if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const figures = await handlerBundles(Number(process.argv[2] ?? 20));
  console.log(JSON.stringify(figures, null, 2));
}
