import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { handlerBundles } from './bundles.ts';

/** The report's "Lambda bundles" section, from bench/bundles.ts's figures. */

type Bundles = Awaited<ReturnType<typeof handlerBundles>>;

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
const verdict = (met: boolean) => (met ? 'met' : '**missed**');
/** ` (x)`, the before figure in brackets, when it was measured. */
const was = (before: string | 0 | undefined) => (before ? ` (${before})` : '');

function beforeText(bundles: Bundles): string {
  if (bundles.before.missing) return `No before figures: ${bundles.before.missing}.`;
  return `In brackets, the same handler built from commit \`${bundles.before.ref.slice(0, 12)}\` (before the bundles were cut) in the same run, deployed as that commit deployed it (its SDK bundled, hence no SDK phase and its whole import counted as its own; \`NODE_OPTIONS=--enable-source-maps\`).`;
}

function handlerRow(h: Bundles['handlers'][number]): string {
  const sdk = h.sdk_at_init.map(({ name, via }) => `${name.replace('@aws-sdk/', '')} (${via})`).join(', ') || 'none';
  const asImport = h.sdk_as_esm_import;
  return `| ${h.name} | \`${h.entry}\` | ${kb(h.bytes)}${was(h.before && kb(h.before.bytes))} | ${h.asset_bytes > h.bytes ? kb(h.asset_bytes) : 'same'} | ${kb(h.source_map_bytes)} | ${sdk} | ${h.sdk_import_p50_ms} / ${h.sdk_import_p99_ms} ms, CPU ${h.sdk_import_cpu_p50_ms} ms${was(asImport && `${asImport.p50_ms} ms, CPU ${asImport.cpu_p50_ms} ms`)} | **${h.own_import_p50_ms}** / ${h.own_import_p99_ms} ms${was(h.before && `${h.before.own_import_p50_ms} ms`)} | ${h.cold_import_p50_ms} / ${h.cold_import_p99_ms} ms${was(h.before && `${h.before.cold_import_p50_ms} ms`)} | ${h.own_import_cpu_p50_ms} / ${h.cold_import_cpu_p50_ms} ms${was(h.before && `${h.before.cold_import_cpu_p50_ms} ms`)} | ${h.rss_after_import_mb} / ${h.heap_after_import_mb} MB | ${h.top_contributors.map((c) => `${c.name} ${kb(c.bytes)}`).join(', ')} |`;
}

function runtimeSdkText(bundles: Bundles): string {
  const sdk = bundles.runtime_sdk;
  const saved = sdk.import_cpu_p50_ms - sdk.require_cpu_p50_ms;
  const share = (name: string) => sdk.profile.find((category) => category.name === name);
  const detection = share("the ESM loader's format detection and export scan of CommonJS files");
  const credentials = sdk.module_code_by_package
    .filter((pkg) => pkg.name.startsWith('@aws-sdk/credential-provider'))
    .reduce((total, pkg) => total + pkg.ms, 0);
  const xml = sdk.module_code_by_package.filter((pkg) => pkg.name.includes('xml'));
  return `### The runtime SDK's share

The handlers load ${sdk.packages.map((name) => `\`${name}\``).join(', ')} at init (${sdk.packages.every((name) => name.includes('dynamodb')) ? 'the DynamoDB clients: the store every invocation reads and writes' : 'over all handlers; the table says which loads which'}). Loaded alone in a fresh process with \`require()\`${sdk.loaded_via === 'require' ? ', as the bundles load them' : ''}, they take **${sdk.require_p50_ms} ms** p50 (${sdk.require_cpu_p50_ms} ms CPU); with an ESM \`import\` of the runtime's CommonJS packages${sdk.loaded_via === 'import' ? ', as the bundles load them' : ', as the bundles loaded them before'}, ${sdk.import_p50_ms} ms (${sdk.import_cpu_p50_ms} ms CPU). Where the time goes, loaded the way the bundles load them (CPU profile, \`--cpu-prof\` at 100 µs, median of 3, less a process that loads nothing; the shares applied to the CPU time above):

| what the samples were doing | share | ms |
|---|---|---|
${sdk.profile.map((category) => `| ${category.name} | ${(category.share * 100).toFixed(0)}% | ${category.ms} |`).join('\n')}

The SDK's module code by package: ${sdk.module_code_by_package
    .slice(0, 8)
    .map((pkg) => `${pkg.name} ${pkg.ms} ms`)
    .join(', ')}.

What that leaves to us, without dropping the v3 clients or moving their import into the first invocation (which Lambda bills the same and would only hide it from this figure):
- **How the bundle loads the SDK** was the one lever found: an ESM \`import\` of CommonJS makes Node's loader detect each file's format and scan its exports${detection && detection.ms > 0 ? ` (${(detection.share * 100).toFixed(0)}%, ${detection.ms} ms)` : ''}; \`require()\` of the same packages costs ${saved.toFixed(0)} ms CPU less here. ${sdk.loaded_via === 'require' ? "Done: the bundles alias `@aws-sdk/client-dynamodb` and `@aws-sdk/lib-dynamodb` to shims (infra/constructs/runtime-sdk/) that `require()` the runtime's package through `createRequire` and re-export the names looprail uses (LAMBDA_RUNTIME_SDK_REQUIRES, infra/constructs/handler-function.ts). The clients imported on first use keep their dynamic `import()`." : 'Not done: the bundles import the SDK with ESM `import`.'}
- **A narrower entry** does not exist: \`@aws-sdk/client-dynamodb\` has one entry with every command and its schemas, and lib-dynamodb adds little on top of it.
- **Credential providers** are already loaded on first use by the SDK (${credentials.toFixed(1)} ms of module code at import). ${xml.length > 0 ? `Of XML, ${xml.map((pkg) => `${pkg.name} (${pkg.ms} ms)`).join(', ')} is loaded by \`@aws-sdk/core\`'s protocols; DynamoDB itself speaks JSON.` : 'No XML package is loaded (DynamoDB speaks JSON).'} The Node built-ins (\`http2\`, \`https\`, \`crypto\`, \`zlib\`) come from \`@smithy/node-http-handler\`'s top level: not ours to cut.
- Node's compile cache (\`module.enableCompileCache\`) would cut the compile share, but Lambda's \`/tmp\` is empty at every cold start, so it would have to ship in the asset, tied to the runtime's exact Node and V8 version: not attempted.`;
}

export function bundlesMarkdown(bundles: Bundles): string {
  const largest = bundles.largest;
  return `## Lambda bundles

Each handler bundled as HandlerFunction has CDK bundle it (\`bundleHandler\`: esbuild, ESM, node22, minified, code splitting, external source maps, ajv aliased to a stand-in, the AWS SDK left to the runtime: \`@aws-sdk/*\` external, the runtime's version pinned as a floor in infra/constructs/handler-function.ts, the DynamoDB packages aliased to shims that \`require()\` them), then imported ${bundles.imports_per_handler} times, each in a fresh Node ${process.version} process with the environment Lambda gives it (no \`--enable-source-maps\`: that is \`-c looprail:debug=true\` only). Each cold import is timed in two phases: first the runtime SDK packages the bundle loads at init, the way it loads them ("runtime SDK", resolved from a node_modules holding \`@aws-sdk/*\` only, as Lambda resolves the SDK it carries; the clients a path needs only sometimes are imported on first use; in brackets, the same packages loaded with ESM \`import\` instead, as the bundles loaded them before, in runs interleaved with the others), then the bundle itself on top of them ("own code": looprail and the dependencies it bundles). "Bundle" is what a cold start loads: \`index.mjs\` and the chunks it imports; "whole asset" adds the chunks loaded only by an \`import()\` some paths reach (the MCP SDK's client with zod classic, for a server the step connects to itself; the OTLP exporter). ${beforeText(bundles)} Targets: ≤ 300 KB each (stretch 150 KB), own-code import ≤ 50 ms p50.

| handler | entry | bundle loaded at init (before) | whole asset | source maps | runtime SDK loaded at init (how) | runtime SDK p50 / p99, CPU p50 (with ESM import instead) | own code import p50 / p99 (before) | total p50 / p99 (before) | CPU of the import, own / total, p50 (before) | after the import: resident / heap | top contributors (esbuild metafile, bytes in the output) |
|---|---|---|---|---|---|---|---|---|---|---|---|
${bundles.handlers.map(handlerRow).join('\n')}

Largest: ${largest.handler}; imported with \`--enable-source-maps\` its cold import p50 is ${largest.with_source_maps_p50_ms} ms (${largest.cold_import_p50_ms} ms without).
Size: ${verdict(bundles.max_bytes <= 300 * 1024)} (largest ${kb(bundles.max_bytes)}${was(bundles.before_max_bytes && kb(bundles.before_max_bytes))}; ${bundles.handlers.filter((h) => h.bytes <= 300 * 1024).length} of ${bundles.handlers.length} handlers ≤ 300 KB). Own-code import: ${verdict(bundles.max_own_import_p50_ms <= 50)} (slowest p50 ${bundles.max_own_import_p50_ms} ms). The whole cold import (slowest p50 ${bundles.max_cold_import_p50_ms} ms${was(bundles.before_max_cold_import_p50_ms && `${bundles.before_max_cold_import_p50_ms} ms`)}) cannot reach 50 ms while a handler loads the DynamoDB client at init: the runtime SDK alone takes up to ${bundles.max_sdk_import_p50_ms} ms p50 here.

${runtimeSdkText(bundles)}
`;
}

/**
 * Run alone: `node bench/bundles-report.ts [imports]` measures the bundles and replaces only
 * the "Lambda bundles" section of bench/report.md (and `lambda_bundles` in report.json),
 * leaving the other sections' figures from their own run.
 */
if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const figures = await handlerBundles(Number(process.argv[2] ?? 20));
  const report = await readFile('bench/report.md', 'utf8');
  const start = report.indexOf('## Lambda bundles');
  const end = report.indexOf('\n## ', start + 1);
  if (start < 0 || end < 0) throw new Error('bench/report.md has no "## Lambda bundles" section followed by another');
  await writeFile(
    'bench/report.md',
    `${report.slice(0, start)}${bundlesMarkdown(figures).trimEnd()}\n${report.slice(end)}`,
  );
  const json = JSON.parse(await readFile('bench/report.json', 'utf8')) as Record<string, unknown>;
  await writeFile('bench/report.json', `${JSON.stringify({ ...json, lambda_bundles: figures }, null, 2)}\n`);
  console.log(bundlesMarkdown(figures));
}
