import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOrgFolder } from '../../adapters/catalog/fs-loader.ts';
import { LAMBDA_RUNTIME_SDK_REQUIRES } from '../../infra/constructs/handler-function.ts';
import { STEP_NAMES, STEP_SPECS } from '../../infra/constructs/step-functions.ts';

/**
 * The app as `cdk synth` runs it: `node infra/app.ts` for the refusal paths (fast, no
 * bundling), and once the real CLI with esbuild bundling of every handler.
 */

const ROOT = join(import.meta.dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'looprail-app-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** node_modules/.bin first, like npx: cdk.json's `node` is then the project's Node 22. */
const env = {
  ...process.env,
  PATH: [join(ROOT, 'node_modules/.bin'), dirname(process.execPath), process.env.PATH].join(delimiter),
  CDK_DISABLE_CLI_TELEMETRY: 'true',
};

function runApp(context: Record<string, unknown>): SpawnSyncReturns<string> & { outdir: string } {
  const outdir = mkdtempSync(join(scratch, 'out-'));
  const result = spawnSync(process.execPath, ['infra/app.ts'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 90_000,
    env: { ...env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: outdir },
  });
  return { ...result, outdir };
}

// Each case starts Node and loads aws-cdk-lib: seconds, more on a busy machine.
describe('infra/app.ts', { timeout: 120_000 }, () => {
  it('prints every problem and exits 1 when the org folder has errors, synthesizing nothing', () => {
    const org = join(scratch, 'bad-org');
    mkdirSync(org, { recursive: true });
    writeFileSync(join(org, 'models.yaml'), 'models:\n  broken:\n    provider: nope\n');
    const result = runApp({ 'looprail:agents': org });
    expect(result.status, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/models\.yaml:\d+:\d+: /);
    expect(result.stderr).toMatch(/has \d+ errors?; nothing was synthesized or deployed/);
    expect(readdirSync(result.outdir)).toEqual([]);
  });

  it('refuses, at its file and line, a stdio server the stack cannot host', () => {
    const org = join(scratch, 'unhostable-org');
    cpSync(join(ROOT, 'agents'), org, { recursive: true });
    const server = join(org, 'mcp-servers/ci-reports.yaml');
    writeFileSync(server, readFileSync(server, 'utf8').replace('mcp-server-filesystem', 'mcp-server-filesystm'));
    const result = runApp({ 'looprail:agents': org });
    expect(result.status, result.stderr).toBe(1);
    expect(result.stderr).toMatch(
      /ci-reports\.yaml:9:12: transport\.command: "mcp-server-filesystm" is not installed: did you mean "mcp-server-filesystem"\? server "ci-reports" cannot run on AWS: .*used by agent morning-triage/,
    );
    expect(result.stderr).toMatch(/has 1 error; nothing was synthesized or deployed/);
    expect(readdirSync(result.outdir)).toEqual([]);
  });

  it('exits 1 with one clear line for a missing org folder', () => {
    const result = runApp({ 'looprail:agents': join(scratch, 'does-not-exist') });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('no such file or folder');
  });

  it('exits 1 with one clear line for a log retention CloudWatch Logs does not offer', () => {
    const org = join(scratch, 'empty-org');
    mkdirSync(org, { recursive: true });
    const result = runApp({ 'looprail:agents': org, 'looprail:logRetentionDays': '31' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^looprail: logRetentionDays: expected one of 1, 3, 5, .* \(got 31\)$/m);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('exits 1 with one clear line for a looprail:debug that is neither true nor false', () => {
    const org = join(scratch, 'debug-org');
    cpSync(join(ROOT, 'agents'), org, { recursive: true });
    const result = runApp({ 'looprail:agents': org, 'looprail:debug': 'yes' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^looprail: looprail:debug: expected true or false \(got "yes"\)$/m);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

/** The handlers besides the steps, by a part of their description: the triggers and the HTTP app. */
const OTHER_HANDLERS = {
  ScheduleTrigger: { entry: 'functions/trigger/schedule.ts', description: /schedule's firing/ },
  EventTrigger: { entry: 'functions/trigger/event.ts', description: /event matching/ },
  HttpApp: { entry: 'functions/http/handler.ts', description: /HTTP app/ },
  Approvals: { entry: 'functions/approval/http.ts', description: /^Approval pages and decisions/ },
  ApprovalReminders: { entry: 'functions/approval/reminders.ts', description: /^Approval reminders before expiry/ },
  // The default org pins a skill: the custom resource that publishes it at deploy.
  SkillsPublisher: { entry: 'functions/deploy/publish-skills.ts', description: /^Publishes the skill versions/ },
} as const;
const HANDLER_NAMES = [...STEP_NAMES, ...(Object.keys(OTHER_HANDLERS) as Array<keyof typeof OTHER_HANDLERS>)];
/** The handlers that read the catalog, so carry it in their bundle. */
const CATALOG_READERS: readonly string[] = ['StartRun', 'ScheduleTrigger', 'EventTrigger', 'HttpApp'];

function handlerName(description: string | undefined): string | undefined {
  const step = STEP_NAMES.find((name) => STEP_SPECS[name].description === description);
  if (step) return step;
  return Object.entries(OTHER_HANDLERS).find(([, other]) => other.description.test(description ?? ''))?.[0];
}

const handlersExist = [
  ...STEP_NAMES.map((name) => STEP_SPECS[name].entry),
  ...Object.values(OTHER_HANDLERS).map((other) => other.entry),
].every((entry) => existsSync(join(ROOT, entry)));
const MAX_ASSET_BYTES = 5 * 1024 * 1024;
/**
 * What a handler's cold start loads (index.mjs and the chunks it imports; the largest is
 * ModelStep at about 295 KB, the AWS SDK left to the runtime and the MCP SDK's client in a
 * chunk loaded on first use) and its folder with the source maps: the first is issue 22's
 * target, so a change that pulls a large module back into a handler's init fails here.
 * bench/bundles.ts reports each handler's figures.
 */
const MAX_HANDLER_BUNDLE_BYTES = 300 * 1024;
const MAX_HANDLER_ASSET_BYTES = 1.5 * 1024 * 1024;
/** Text only ajv's code generator holds: the bundles alias ajv to a stand-in (LAMBDA_BUNDLE_ALIASES). */
const AJV_CODEGEN = 'strictTuples';

/** An ESM import of `name` in a minified bundle: `from"name"`, `import"name"`, `import("name")`. */
const esmImportOf = (name: string) => new RegExp(`(?:\\bfrom\\s*|\\bimport\\s*\\(?\\s*)["']${name}["']`);
/** What a runtime-SDK shim leaves in the bundle (infra/constructs/runtime-sdk/): a `require` made by createRequire. */
const requireOf = (name: string) => new RegExp(`\\(import\\.meta\\.url\\)\\(["']${name}["']\\)`);

/** index.mjs and the chunks it imports statically, transitively: what Node reads at a cold start. */
function loadedAtInit(dir: string): string[] {
  const loaded = ['index.mjs'];
  for (const file of loaded) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const [, chunk] of text.matchAll(/(?:\bfrom\s*|\bimport\s*)["']\.\/([\w.-]+\.mjs)["']/g))
      if (!loaded.includes(chunk!)) loaded.push(chunk!);
  }
  return loaded;
}

function folderBytes(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .reduce((total, entry) => total + statSync(join(entry.parentPath, entry.name)).size, 0);
}

describe.skipIf(!handlersExist)('cdk synth with bundling', () => {
  it('bundles every handler to load under 300 KB at init (1.5 MB with its chunks and source maps), without ajv, requiring the DynamoDB SDK, and passes the nag packs', async () => {
    const out = join(scratch, 'cdk.out');
    const started = performance.now();
    const result = spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules/aws-cdk/bin/cdk'), 'synth', '--quiet', '--no-notices', '--output', out],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 240_000,
        env,
      },
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.info(`cdk synth with bundling: ${seconds} s`);
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);

    const template = JSON.parse(readFileSync(join(out, 'Looprail.template.json'), 'utf8')) as {
      Resources: Record<
        string,
        { Type: string; Properties: { Description?: string }; Metadata?: Record<string, string> }
      >;
    };
    const all = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Lambda::Function');
    // The MCP hosts (one per stdio server an agent uses) carry the server beside the handler.
    const hosts = all.filter((fn) => /^MCP host of /.test(fn.Properties.Description ?? ''));
    const functions = all.filter((fn) => !hosts.includes(fn));
    expect(functions).toHaveLength(HANDLER_NAMES.length);
    for (const host of hosts) {
      const dir = join(out, host.Metadata!['aws:asset:path']!);
      expect(existsSync(join(dir, 'server.mjs')), dir).toBe(true);
      expect(folderBytes(dir), `${host.Properties.Description} bundle`).toBeLessThan(MAX_ASSET_BYTES);
    }

    const bundles = new Map<string, string>();
    for (const fn of functions) {
      const assetPath = fn.Metadata?.['aws:asset:path'];
      expect(assetPath, 'asset metadata').toBeDefined();
      const dir = join(out, assetPath!);
      expect(existsSync(join(dir, 'index.mjs')), dir).toBe(true);
      const atInit = loadedAtInit(dir);
      const initBytes = atInit.reduce((total, file) => total + statSync(join(dir, file)).size, 0);
      expect(initBytes, `${fn.Properties.Description}: ${atInit.join(', ')}`).toBeLessThan(MAX_HANDLER_BUNDLE_BYTES);
      expect(folderBytes(dir), `${fn.Properties.Description} bundle`).toBeLessThan(MAX_HANDLER_ASSET_BYTES);
      for (const file of readdirSync(dir).filter((name) => name.endsWith('.mjs')))
        expect(readFileSync(join(dir, file), 'utf8'), `${fn.Properties.Description} ${file}`).not.toContain(
          AJV_CODEGEN,
        );
      const name = handlerName(fn.Properties.Description);
      expect(name, fn.Properties.Description).toBeDefined();
      bundles.set(name!, atInit.map((file) => readFileSync(join(dir, file), 'utf8')).join('\n'));
    }
    expect([...bundles.keys()].sort()).toEqual([...HANDLER_NAMES].sort());

    // Every handler loads the runtime's DynamoDB packages at init, with require() (the shims), never ESM import.
    for (const [name, text] of bundles) {
      for (const sdk of Object.keys(LAMBDA_RUNTIME_SDK_REQUIRES)) {
        expect(text, `${name} imports ${sdk}`).not.toMatch(esmImportOf(sdk));
        expect(text, `${name} requires ${sdk}`).toMatch(requireOf(sdk));
      }
    }

    // StartRun, the triggers and the HTTP app carry the catalog; the other steps read the run's snapshot.
    const { catalog } = await loadOrgFolder(join(ROOT, String(readContext('looprail:agents') ?? 'agents')));
    const fingerprint = Object.values(catalog?.agents ?? {})[0]?.instructions.sha256;
    if (fingerprint) {
      for (const name of CATALOG_READERS) expect(bundles.get(name), name).toContain(fingerprint);
      for (const name of HANDLER_NAMES.filter((n) => !CATALOG_READERS.includes(n)))
        expect(bundles.get(name), name).not.toContain(fingerprint);
    }
  }, 300_000);
});

function readContext(key: string): unknown {
  return (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context[
    key
  ];
}
