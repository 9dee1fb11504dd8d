import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { fieldReference } from '../schema/field-reference.ts';
import { schemaFiles } from '../schema/json-schemas.ts';

/**
 * `looprail schema [--out <dir>] [--reference <file>] [--check]`: a JSON Schema per kind of org
 * file (`<kind>.schema.json`: agent, mcp-server, models, budgets, secrets, guardrails, skills,
 * skill, script, lock) for the YAML language server, and the field reference in Markdown, both
 * from the zod schemas `validate` uses. `--check` writes nothing and exits 1 when a file there
 * is missing or not current (CI).
 */

interface SchemaOptions {
  out: string;
  reference?: string;
  check?: boolean;
}

export function registerSchemaCommand(program: Command): void {
  program
    .command('schema')
    .description(
      'write a JSON Schema per org file kind (<kind>.schema.json) for editors, and the field reference with --reference',
    )
    .option('--out <dir>', 'the folder for the schema files', 'schemas')
    .option('--reference <file>', 'also write the field reference (Markdown) to this file')
    .option('--check', 'write nothing; exit 1 if a file is missing or not current')
    .action(async (options: SchemaOptions) => {
      const outputs = [
        ...schemaFiles().map(({ name, text }) => ({ path: join(options.out, name), text })),
        ...(options.reference ? [{ path: options.reference, text: fieldReference() }] : []),
      ];
      if (options.check) {
        const stale = await staleFiles(outputs);
        for (const path of stale) console.log(`✗ ${path} is missing or not current`);
        if (stale.length > 0) console.log(`run: ${commandLine(options)}`);
        else console.log(`✓ ${outputs.length} files current`);
        process.exitCode = stale.length > 0 ? 1 : 0;
        return;
      }
      for (const { path, text } of outputs) {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, text);
      }
      const reference = options.reference ? ` and the field reference to ${options.reference}` : '';
      console.log(`wrote ${outputs.length - (options.reference ? 1 : 0)} schemas to ${options.out}${reference}`);
      console.log(
        `an editor with the YAML language server picks one with a first line such as: # yaml-language-server: $schema=${join(options.out, 'agent.schema.json')} (relative to the YAML file)`,
      );
    });
}

async function staleFiles(outputs: Array<{ path: string; text: string }>): Promise<string[]> {
  const stale: string[] = [];
  for (const { path, text } of outputs) {
    const current = await readFile(path, 'utf8').catch(() => undefined);
    if (current !== text) stale.push(path);
  }
  return stale;
}

function commandLine(options: SchemaOptions): string {
  return [
    'looprail schema',
    `--out ${options.out}`,
    ...(options.reference ? [`--reference ${options.reference}`] : []),
  ].join(' ');
}
