import * as z from '../../core/definitions/zod.ts';
import { AgentFile } from '../../core/definitions/agent.ts';
import { GuardrailsFile } from '../../core/definitions/guardrails.ts';
import { LockFile } from '../../core/definitions/lock-file.ts';
import { BudgetsFile, McpServerDeclaration, ModelScript, ModelsFile, SecretsFile } from '../../core/definitions/org.ts';
import { yamlForms } from '../../core/definitions/primitives.ts';
import { SkillFrontMatter, SkillsPolicyFile } from '../../core/definitions/skills.ts';

/**
 * A JSON Schema for every kind of file in an org folder, derived from the zod schemas that
 * validate them (one source: what `looprail validate` accepts, an editor accepts), with the
 * schemas' descriptions. Written by `looprail schema` for the YAML language server, and read
 * by the field reference (field-reference.ts). Pure; only the CLI imports it.
 */

export interface FileKind {
  /** The schema's file name without `.schema.json`, as modelines name it. */
  kind: string;
  title: string;
  /** Where files of this kind sit in the org folder. */
  where: string;
  schema: z.ZodMiniType;
}

export const FILE_KINDS: readonly FileKind[] = [
  {
    kind: 'agent',
    title: 'Agent definition',
    where: 'any other YAML file of the org folder, e.g. `morning-triage.yaml`',
    schema: AgentFile,
  },
  {
    kind: 'mcp-server',
    title: 'MCP server declaration',
    where: '`mcp-servers/<name>.yaml`',
    schema: McpServerDeclaration,
  },
  { kind: 'models', title: 'Models', where: '`models.yaml`', schema: ModelsFile },
  { kind: 'budgets', title: 'Budgets and rate limits', where: '`budgets.yaml`', schema: BudgetsFile },
  { kind: 'secrets', title: 'Secret names', where: '`secrets.yaml`', schema: SecretsFile },
  { kind: 'guardrails', title: 'Org guardrails', where: '`guardrails.yaml`', schema: GuardrailsFile },
  { kind: 'skills', title: 'Skills registry policy', where: '`skills.yaml`', schema: SkillsPolicyFile },
  {
    kind: 'skill',
    title: 'Skill front matter',
    where: 'the front matter (between `---` lines) of `skills/<name>/SKILL.md`',
    schema: SkillFrontMatter,
  },
  {
    kind: 'script',
    title: 'Scripted model script',
    where: 'the file a `scripted` model names in `models.yaml`, e.g. `scripts/<name>.yaml`',
    schema: ModelScript,
  },
  { kind: 'lock', title: 'Lock file', where: '`looprail.lock.yaml` (written by `looprail lock`)', schema: LockFile },
];

export type JsonSchema = Record<string, unknown>;

/** Keys of a field's own that a YAML form replacing its type keeps. */
const KEPT_KEYS = new Set(['description', 'default', 'title', 'examples']);

/** The JSON Schema (draft-07, which every YAML language server reads) of what a file of this kind may contain. */
export function jsonSchemaOf(kind: FileKind): JsonSchema {
  const schema = z.toJSONSchema(kind.schema, {
    target: 'draft-07',
    // A file holds what is written, before zod's defaults and transforms.
    io: 'input',
    override: ({ zodSchema, jsonSchema }) => {
      // zod drops the default of a field whose value it transforms; the value is still the default.
      // Told by `def.type`, as everywhere (core/definitions/zod.ts says why not `instanceof z.core.…`).
      const def = zodSchema._zod.def;
      if (def.type === 'default' && !('default' in jsonSchema))
        Object.assign(jsonSchema, { default: structuredClone((def as z.core.$ZodDefaultDef).defaultValue) });
      const form = yamlForms.get(zodSchema);
      if (!form) return;
      for (const key of Object.keys(jsonSchema)) if (!KEPT_KEYS.has(key)) delete (jsonSchema as JsonSchema)[key];
      Object.assign(jsonSchema, structuredClone(form.jsonSchema));
    },
  }) as JsonSchema;
  const { $schema, ...rest } = schema;
  return {
    $schema,
    title: `looprail ${kind.title.toLowerCase()}`,
    description: `${kind.title}: ${kind.where}.`,
    ...rest,
  };
}

/** Every schema file `looprail schema` writes, by file name, as written (two-space JSON, a final newline). */
export function schemaFiles(): Array<{ name: string; text: string }> {
  return FILE_KINDS.map((kind) => ({
    name: `${kind.kind}.schema.json`,
    text: `${JSON.stringify(jsonSchemaOf(kind), null, 2)}\n`,
  }));
}
