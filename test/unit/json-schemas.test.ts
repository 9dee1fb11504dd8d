import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { splitFrontMatter } from '../../core/definitions/front-matter.ts';
import { FILE_KINDS, type FileKind, jsonSchemaOf } from '../../cli/schema/json-schemas.ts';

/**
 * The editor schemas tell the truth: every YAML file of the sample org and of the test orgs,
 * which `looprail validate` accepts, is accepted by its kind's JSON Schema under a real JSON
 * Schema validator, and so are the spellings zod takes that its own JSON Schema would not
 * (1_500_000 as a string, a bare `pii:`). What no file may hold is refused there too.
 */

const ROOT = process.cwd();
const ORGS = [
  'agents',
  'examples/ci-fixer',
  ...readdirSync(join(ROOT, 'test/fixtures'))
    .filter((name) => name.endsWith('-org'))
    .map((name) => `test/fixtures/${name}`),
];

const ROOT_FILES: Record<string, string> = {
  'models.yaml': 'models',
  'budgets.yaml': 'budgets',
  'secrets.yaml': 'secrets',
  'guardrails.yaml': 'guardrails',
  'skills.yaml': 'skills',
  'looprail.lock.yaml': 'lock',
};

/** The kind of a file, by the layout validate reads (core/definitions/validate.ts). */
function kindOf(path: string): string | undefined {
  if (/^skills\/[^/]+\/SKILL\.md$/.test(path)) return 'skill';
  if (!/\.ya?ml$/.test(path) || path.startsWith('skills/') || path.startsWith('demo/')) return undefined;
  if (path.startsWith('mcp-servers/')) return 'mcp-server';
  if (path.startsWith('scripts/')) return 'script';
  return ROOT_FILES[path] ?? 'agent';
}

function filesOf(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesOf(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

function documentOf(path: string, kind: string): unknown {
  const text = readFileSync(path, 'utf8');
  return parse(kind === 'skill' ? splitFrontMatter(text).frontMatter! : text);
}

// Formats are named, not checked: zod writes a pattern beside `email`, and `uri` is as loose as zod's own check.
const ajv = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true, formats: { email: true, uri: true } });
const validators = new Map<string, { kind: FileKind; validate: ValidateFunction }>(
  FILE_KINDS.map((kind) => [kind.kind, { kind, validate: ajv.compile(jsonSchemaOf(kind)) }]),
);

function check(kindName: string, document: unknown): { zod: boolean; json: string[] } {
  const { kind, validate } = validators.get(kindName)!;
  const valid = validate(document);
  return {
    zod: kind.schema.safeParse(document).success,
    json: valid ? [] : (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message}`),
  };
}

describe('the JSON Schemas of the org files', () => {
  const files = ORGS.flatMap((org) =>
    filesOf(join(ROOT, org)).flatMap((path) => {
      const kind = kindOf(relative(join(ROOT, org), path).split('\\').join('/'));
      return kind ? [{ path: relative(ROOT, path), kind }] : [];
    }),
  );

  it('cover every kind, and compile under a strict validator', () => {
    expect(new Set(files.map((file) => file.kind))).toEqual(new Set(FILE_KINDS.map((kind) => kind.kind)));
    expect(files.length).toBeGreaterThan(150);
  });

  it.each(files)('accept $path ($kind), as zod does', ({ path, kind }) => {
    expect(check(kind, documentOf(path, kind))).toEqual({ zod: true, json: [] });
  });

  it("the sample org's files name their kind's schema on their first line, for the YAML language server", () => {
    const named = files
      .filter((file) => file.path.startsWith('agents/') && file.kind !== 'skill' && file.kind !== 'lock')
      .map((file) => {
        const modeline = /^# yaml-language-server: \$schema=(\S+)\n/.exec(readFileSync(file.path, 'utf8'))?.[1];
        return { path: file.path, schema: modeline && relative(ROOT, join(dirname(file.path), modeline)) };
      });
    expect(named.length).toBeGreaterThan(8);
    for (const { path, schema } of named)
      expect(schema, path).toBe(`schemas/${kindOf(path.slice('agents/'.length))}.schema.json`);
  });

  it.each([
    [
      'a count written with underscores',
      'agent',
      { agent: { ...minimalAgent(), harness: { max_tokens_per_run: '1_500_000' } } },
    ],
    ['a bare `pii:` and `prompt_injection:`', 'guardrails', { guardrails: { pii: null, prompt_injection: null } }],
    [
      'a tool declared with nothing after its name',
      'mcp-server',
      { name: 'x', transport: { type: 'http', url: 'https://x.example/mcp' }, tools: { a: null } },
    ],
    [
      'a schedule as text and as a mapping',
      'agent',
      { agent: minimalAgent(), trigger: { schedule: { cron: '0 6 * * 1-5', timezone: 'Europe/Paris' } } },
    ],
    ['a secret declared with nothing after its name', 'secrets', { secrets: { 'github-token': null } }],
    [
      'an approval rule as a word',
      'agent',
      { agent: { ...minimalAgent(), approvals: { 'github.merge_*': 'pause_for_human' } } },
    ],
  ])('accept %s, as zod does', (_what, kind, document) => {
    expect(check(kind, document)).toEqual({ zod: true, json: [] });
  });

  it.each([
    [
      'an unknown key',
      'agent',
      { agent: { ...minimalAgent(), max_steps: 5 } },
      '/agent must NOT have additional properties',
    ],
    [
      'a word outside an enum',
      'agent',
      { agent: { ...minimalAgent(), harness: { on_denied_tool: 'ignore' } } },
      '/agent/harness/on_denied_tool must be equal to one of the allowed values',
    ],
    [
      'an unknown provider',
      'models',
      { models: { m: { provider: 'acme', price: { input_per_mtok: 1, output_per_mtok: 1 } } } },
      '/models/m must match exactly one schema in oneOf',
    ],
    [
      'an instructions file without its version',
      'agent',
      { agent: { ...minimalAgent(), instructions: './a.md' } },
      '/agent/instructions must match pattern "^(.+)@([A-Za-z0-9][A-Za-z0-9._-]*)$"',
    ],
    ['a missing required field', 'script', { after_last: 'error' }, " must have required property 'turns'"],
  ])('refuse %s, as zod does', (_what, kind, document, error) => {
    const result = check(kind, document);
    expect(result.zod).toBe(false);
    expect(result.json).toContain(error);
  });
});

describe('the defaults the JSON Schemas show', () => {
  /** Every node of a schema that states a default, with where it is. */
  function defaults(node: unknown, path: string): Array<{ path: string; node: Record<string, unknown> }> {
    if (!node || typeof node !== 'object') return [];
    const own = 'default' in node ? [{ path, node: node as Record<string, unknown> }] : [];
    return [
      ...own,
      ...Object.entries(node).flatMap(([key, child]) =>
        typeof child === 'object' ? defaults(child, `${path}/${key}`) : [],
      ),
    ];
  }
  const stated = FILE_KINDS.flatMap((kind) => defaults(jsonSchemaOf(kind), kind.kind));

  it('are many', () => {
    expect(stated.length).toBeGreaterThan(50);
  });

  it.each(stated)('$path: the default is a value the field accepts', ({ node }) => {
    const { default: value, ...schema } = node;
    const validate = ajv.compile(schema);
    expect(validate(value) ? [] : validate.errors).toEqual([]);
  });
});

function minimalAgent() {
  return { name: 'first', model: 'm', instructions: './a.md@v1' };
}
