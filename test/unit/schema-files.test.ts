import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fieldReference, REFERENCE_COMMAND } from '../../cli/schema/field-reference.ts';
import { FILE_KINDS, schemaFiles } from '../../cli/schema/json-schemas.ts';
import { looprailCli } from '../support/looprail-cli.ts';

/**
 * The committed editor schemas (schemas/) and field reference (docs/reference/fields.md) are
 * what the zod schemas give today: a field added or described without regenerating them fails
 * here, with the command that brings them up to date. `looprail schema --out .schemas` writes
 * the file names `looprail init`'s modelines name.
 */

const ROOT = process.cwd();
const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

const REGENERATE = `is not current: run \`npm run looprail -- ${REFERENCE_COMMAND.replace('looprail ', '')}\` and commit the result`;

describe('the committed schemas and field reference', () => {
  it.each(schemaFiles())('schemas/$name is current', async ({ name, text }) => {
    const committed = await readFile(join(ROOT, 'schemas', name), 'utf8').catch(() => 'missing');
    expect(committed, `schemas/${name} ${REGENERATE}`).toBe(text);
  });

  it('schemas/ holds no schema of a kind that is gone', async () => {
    const names = (await readdir(join(ROOT, 'schemas'))).sort();
    expect(names, `schemas/ ${REGENERATE}`).toEqual(
      schemaFiles()
        .map((file) => file.name)
        .sort(),
    );
  });

  it('docs/reference/fields.md is current', async () => {
    const committed = await readFile(join(ROOT, 'docs/reference/fields.md'), 'utf8').catch(() => 'missing');
    expect(committed, `docs/reference/fields.md ${REGENERATE}`).toBe(fieldReference());
  });

  it('the reference lists every field with its type, default, allowed values and description', () => {
    const reference = fieldReference();
    for (const kind of FILE_KINDS) expect(reference).toContain(`## ${kind.title}\n`);
    expect(reference).toContain(
      '| `agent.harness.on_denied_tool` | string |  | `continue`, `stop` | What a call to a tool the agent is not granted does',
    );
    expect(reference).toContain(
      '| `models.<model>.secret` | string | required | matches `^[A-Za-z0-9][A-Za-z0-9/_+=.@-]{0,255}$` | (provider: anthropic) The secret',
    );
    expect(reference).toContain('| `agent.sandbox.memory_mb` | whole number or string | `1024` | > 0; matches');
    // Every row says what the field does.
    const rows = reference.split('\n').filter((line) => line.startsWith('| `'));
    expect(rows.length).toBeGreaterThan(200);
    expect(rows.filter((row) => row.endsWith('|  |'))).toEqual([]);
  });
});

describe('looprail schema', () => {
  it('writes <kind>.schema.json for each kind where --out says, and --check tells a stale folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'looprail-schema-'));
    temps.push(dir);
    const written = await looprailCli(['schema', '--out', '.schemas'], { cwd: dir });
    expect(written.code).toBe(0);
    expect(written.stdout).toContain('wrote 10 schemas to .schemas');
    const names = (await readdir(join(dir, '.schemas'))).sort();
    expect(names).toEqual(
      ['agent', 'budgets', 'guardrails', 'lock', 'mcp-server', 'models', 'script', 'secrets', 'skill', 'skills'].map(
        (kind) => `${kind}.schema.json`,
      ),
    );
    const agent = JSON.parse(await readFile(join(dir, '.schemas', 'agent.schema.json'), 'utf8'));
    expect(agent.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(agent.properties.agent.properties.model.description).toBe(
      'The model it runs on: a name declared in models.yaml.',
    );

    expect((await looprailCli(['schema', '--out', '.schemas', '--check'], { cwd: dir })).code).toBe(0);
    await writeFile(join(dir, '.schemas', 'models.schema.json'), '{}\n');
    const stale = await looprailCli(['schema', '--out', '.schemas', '--check'], { cwd: dir });
    expect(stale.code).toBe(1);
    expect(stale.stdout).toContain('✗ .schemas/models.schema.json is missing or not current');
    expect(stale.stdout).toContain('run: looprail schema --out .schemas');
  }, 180_000);
});
