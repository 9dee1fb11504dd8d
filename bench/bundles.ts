import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { loadOrgFolder } from '../adapters/catalog/fs-loader.ts';
import { NODE22_ESM_BUNDLE, PROJECT_ROOT } from '../infra/constructs/handler-function.ts';
import { catalogBundling, STEP_SPECS } from '../infra/constructs/step-functions.ts';

/**
 * Bundle size and cold import time per Lambda handler, bundled the way HandlerFunction
 * (infra/constructs/handler-function.ts) has CDK bundle them: ESM, node22, minified, the
 * AWS SDK bundled (`bundleAwsSDK: true`, so nothing is external), the createRequire
 * banner, an external source map without sources, and the catalog inlined where the
 * constructs inline it. Each bundle is imported in a fresh Node process with the
 * `NODE_OPTIONS=--enable-source-maps` the construct sets.
 */

/** The handlers the constructs deploy (step-functions.ts, trigger-functions.ts, http-api.ts). */
function handlerEntries(): Array<{ name: string; entry: string; withCatalog: boolean }> {
  const steps = Object.entries(STEP_SPECS).map(([name, spec]) => ({
    name,
    entry: spec.entry,
    withCatalog: name === 'StartRun',
  }));
  return [
    ...steps,
    { name: 'Schedule', entry: 'functions/trigger/schedule.ts', withCatalog: true },
    { name: 'Event', entry: 'functions/trigger/event.ts', withCatalog: true },
    { name: 'HttpApp', entry: 'functions/http/handler.ts', withCatalog: false },
  ];
}

/** `node_modules/@aws-sdk/client-dynamodb/dist-es/…` → `@aws-sdk/client-dynamodb`; our own sources → `looprail (own code)`. */
function packageOf(input: string): string {
  const at = input.lastIndexOf('node_modules/');
  if (at < 0) return 'looprail (own code)';
  const parts = input.slice(at + 'node_modules/'.length).split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

function topContributors(metafile: Metafile, outfile: string, count = 5) {
  const output = Object.entries(metafile.outputs).find(([path]) => path.endsWith(outfile))![1];
  const byPackage = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    byPackage.set(packageOf(input), (byPackage.get(packageOf(input)) ?? 0) + bytesInOutput);
  }
  return [...byPackage.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, bytes]) => ({ name, bytes }));
}

/**
 * Milliseconds the child spends in `import()` of the bundle (Node's own start-up
 * excluded): wall time, and the CPU time it used, which a busy machine inflates less.
 */
function importOnce(file: string): Promise<{ wall: number; cpu: number }> {
  const script = `const c = process.cpuUsage(); const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); const w = performance.now() - t; const u = process.cpuUsage(c); process.stdout.write(JSON.stringify({ wall: w, cpu: (u.user + u.system) / 1000 }));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      // What Lambda's environment gives the handler at init; no credentials are needed to import.
      env: {
        PATH: process.env.PATH,
        NODE_OPTIONS: '--enable-source-maps',
        AWS_REGION: 'us-east-1',
        LOOPRAIL_TABLE_NAME: 'bench',
        LOOPRAIL_SECRETS: 'aws',
        LOOPRAIL_STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:123456789012:stateMachine:bench',
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
        ? resolve(JSON.parse(out) as { wall: number; cpu: number })
        : reject(new Error(`importing ${file} failed (${code}): ${err.split('\n').slice(0, 5).join('\n')}`)),
    );
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function handlerBundles(imports = 20) {
  const { catalog } = await loadOrgFolder(join(PROJECT_ROOT, 'agents'));
  if (!catalog) throw new Error('agents/ does not validate');
  const dir = await mkdtemp(join(tmpdir(), 'looprail-bundles-'));
  const handlers: Array<{
    name: string;
    entry: string;
    bytes: number;
    source_map_bytes: number;
    cold_import_p50_ms: number;
    cold_import_max_ms: number;
    cold_import_cpu_p50_ms: number;
  }> = [];
  let largest: { name: string; entry: string; withCatalog: boolean; bytes: number; metafile: Metafile } | undefined;
  try {
    for (const { name, entry, withCatalog } of handlerEntries()) {
      const outdir = join(dir, name);
      await mkdir(outdir);
      const outfile = join(outdir, 'index.mjs');
      const result = await build({
        entryPoints: [join(PROJECT_ROOT, entry)],
        outfile,
        ...NODE22_ESM_BUNDLE,
        mainFields: [...NODE22_ESM_BUNDLE.mainFields],
        sourcemap: true,
        sourcesContent: false,
        tsconfig: join(PROJECT_ROOT, 'tsconfig.json'),
        metafile: true,
        logLevel: 'error',
        ...(withCatalog ? catalogBundling(catalog) : {}),
      });
      const outputs = result.metafile.outputs;
      const bytes = Object.entries(outputs).find(([path]) => path.endsWith('index.mjs'))![1].bytes;
      const mapBytes = Object.entries(outputs).find(([path]) => path.endsWith('index.mjs.map'))?.[1].bytes ?? 0;
      const times: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < imports; i++) {
        const measured = await importOnce(outfile);
        times.push(measured.wall);
        cpu.push(measured.cpu);
      }
      handlers.push({
        name,
        entry,
        bytes,
        source_map_bytes: mapBytes,
        cold_import_p50_ms: Number(median(times).toFixed(1)),
        cold_import_max_ms: Number(Math.max(...times).toFixed(1)),
        cold_import_cpu_p50_ms: Number(median(cpu).toFixed(1)),
      });
      if (!largest || bytes > largest.bytes) largest = { name, entry, withCatalog, bytes, metafile: result.metafile };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const top = topContributors(largest!.metafile, `${largest!.name}/index.mjs`);
  const largestOutput = Object.entries(largest!.metafile.outputs).find(([path]) =>
    path.endsWith(`${largest!.name}/index.mjs`),
  )![1];
  // zod's classic namespace re-exports every locale, which esbuild cannot drop.
  const zodLocales = Object.entries(largestOutput.inputs)
    .filter(([input]) => input.includes('zod/v4/locales/'))
    .reduce((sum, [, { bytesInOutput }]) => sum + bytesInOutput, 0);
  // What the same handler would weigh with the runtime's AWS SDK (bundleAwsSDK: false marks @aws-sdk/* external).
  const sdkExternal = await build({
    entryPoints: [join(PROJECT_ROOT, largest!.entry)],
    outfile: join(dir, 'sdk-external.mjs'),
    write: false,
    ...NODE22_ESM_BUNDLE,
    mainFields: [...NODE22_ESM_BUNDLE.mainFields],
    tsconfig: join(PROJECT_ROOT, 'tsconfig.json'),
    external: ['@aws-sdk/*'],
    logLevel: 'error',
    ...(largest!.withCatalog ? catalogBundling(catalog) : {}),
  });
  return {
    imports_per_handler: imports,
    handlers,
    largest: {
      name: largest!.name,
      bytes: largest!.bytes,
      top_contributors: top,
      zod_locales_bytes: zodLocales,
      bytes_with_aws_sdk_external: sdkExternal.outputFiles[0]!.contents.byteLength,
    },
    max_bytes: Math.max(...handlers.map((handler) => handler.bytes)),
    max_cold_import_p50_ms: Math.max(...handlers.map((handler) => handler.cold_import_p50_ms)),
  };
}

/** Run alone: `node bench/bundles.ts` prints the figures. */
if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const figures = await handlerBundles(Number(process.argv[2] ?? 20));
  console.log(JSON.stringify(figures, null, 2));
}
