import { FILE_KINDS, type FileKind, type JsonSchema, jsonSchemaOf } from './json-schemas.ts';

/**
 * The field reference (docs/reference/fields.md): every field of every org file kind, with
 * its type, default, allowed values and description, read from the same JSON Schemas the
 * editors use, so the two never disagree with `looprail validate`. Pure.
 */

export const REFERENCE_COMMAND = 'looprail schema --reference docs/reference/fields.md';

interface Row {
  field: string;
  type: string;
  default: string;
  allowed: string;
  description: string;
}

/** What a key stands for in a mapping whose keys are data (`tools.<tool>`), by the mapping's field name. */
const KEY_NAMES: Record<string, string> = {
  models: 'model',
  tools: 'tool',
  secrets: 'secret',
  skills: 'skill',
  approvals: 'tool-pattern',
  instructions: 'path@version',
  env: 'VARIABLE',
  env_secrets: 'VARIABLE',
  filter: 'field',
};

const code = (value: unknown): string => `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
const cell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');
const branchesOf = (node: JsonSchema): JsonSchema[] | undefined =>
  (node.anyOf ?? node.oneOf) as JsonSchema[] | undefined;
const isObject = (node: JsonSchema): boolean => node.type === 'object';

function numberBounds(node: JsonSchema): string[] {
  const bounds: string[] = [];
  if (node.exclusiveMinimum !== undefined) bounds.push(`> ${node.exclusiveMinimum}`);
  if (node.minimum !== undefined) bounds.push(`≥ ${node.minimum}`);
  if (node.exclusiveMaximum !== undefined) bounds.push(`< ${node.exclusiveMaximum}`);
  if (node.maximum !== undefined && node.maximum !== Number.MAX_SAFE_INTEGER) bounds.push(`≤ ${node.maximum}`);
  return bounds;
}

/** The type of a value in words, and what values it allows. */
function typeOf(node: JsonSchema, field: string, inUnion = false): { type: string; allowed: string[] } {
  const branches = branchesOf(node);
  if (branches) {
    const parts = branches.map((branch) => typeOf(branch, field, true));
    return {
      type: [...new Set(parts.map((part) => part.type))].join(' or '),
      allowed: parts.flatMap((part) => part.allowed),
    };
  }
  if (node.const !== undefined) return { type: typeof node.const, allowed: [code(node.const)] };
  if (Array.isArray(node.enum)) return { type: 'string', allowed: [(node.enum as unknown[]).map(code).join(', ')] };
  const types = Array.isArray(node.type) ? (node.type as string[]) : [node.type as string | undefined];
  if (types.length > 1) return { type: types.join(' or '), allowed: [] };
  switch (types[0]) {
    case 'string': {
      if (node.format === 'email') return { type: 'email address', allowed: [] };
      if (node.format === 'uri') return { type: 'URL', allowed: [] };
      // A union branch's description says what its pattern means; a field's describes the field.
      const meaning = inUnion && node.description ? ` (${node.description})` : '';
      const allowed = node.pattern ? [`matches ${code(node.pattern)}${meaning}`] : [];
      return { type: 'string', allowed };
    }
    case 'integer':
    case 'number':
      return { type: types[0] === 'integer' ? 'whole number' : 'number', allowed: numberBounds(node) };
    case 'boolean':
      return { type: 'true or false', allowed: [] };
    case 'null':
      return { type: 'nothing', allowed: [] };
    case 'array': {
      const item = typeOf((node.items ?? {}) as JsonSchema, field);
      const count = typeof node.minItems === 'number' && node.minItems > 0 ? [`at least ${node.minItems}`] : [];
      return { type: `list of ${item.type}`, allowed: [...count, ...item.allowed] };
    }
    case 'object': {
      const values = node.additionalProperties;
      if (node.properties || typeof values !== 'object') return { type: 'mapping', allowed: [] };
      const keys = (node.propertyNames as JsonSchema | undefined)?.pattern;
      return {
        type: `mapping of ${keyName(field)} → ${typeOf(values as JsonSchema, field).type}`,
        allowed: keys ? [`keys match ${code(keys)}`] : [],
      };
    }
    default:
      return { type: 'any', allowed: [] };
  }
}

function keyName(field: string): string {
  return `<${KEY_NAMES[field.split('.').at(-1)!.replace(/\[\]$/, '')] ?? 'key'}>`;
}

function rowOf(node: JsonSchema, field: string, required: boolean): Row {
  const { type, allowed } = typeOf(node, field);
  return {
    field,
    type,
    default: required ? 'required' : node.default !== undefined ? code(node.default) : '',
    allowed: allowed.join('; '),
    description: (node.description as string | undefined) ?? '',
  };
}

/** True when a value has fields of its own to list (a mapping, or a union with one). */
function hasChildren(node: JsonSchema): boolean {
  const branches = branchesOf(node);
  if (branches) return branches.some(hasChildren);
  if (node.type === 'array') return hasChildren((node.items ?? {}) as JsonSchema);
  return isObject(node) && (node.properties !== undefined || typeof node.additionalProperties === 'object');
}

/** The rows below a value: its fields, its items', its mapped values', each union branch's. */
function childRows(node: JsonSchema, path: string): Row[] {
  const branches = branchesOf(node);
  if (branches) return unionRows(branches, path);
  if (node.type === 'array') return nested((node.items ?? {}) as JsonSchema, `${path}[]`);
  if (!isObject(node)) return [];
  if (node.properties) {
    const required = new Set((node.required as string[] | undefined) ?? []);
    return Object.entries(node.properties as Record<string, JsonSchema>).flatMap(([name, child]) => {
      const field = path ? `${path}.${name}` : name;
      return [rowOf(child, field, required.has(name)), ...childRows(child, field)];
    });
  }
  if (typeof node.additionalProperties === 'object')
    return nested(node.additionalProperties as JsonSchema, `${path}.${keyName(path)}`);
  return [];
}

/** An item or a mapped value: a row of its own when it says something, then its fields. */
function nested(node: JsonSchema, field: string): Row[] {
  if (!hasChildren(node)) return [];
  return [...(node.description ? [rowOf(node, field, false)] : []), ...childRows(node, field)];
}

/**
 * A union's object branches, listed once per field: a field every branch has alike is one row;
 * one that differs, or that only some branches have, says which (`provider: anthropic`).
 */
function unionRows(branches: JsonSchema[], path: string): Row[] {
  const objects = branches.filter((branch) => isObject(branch) && branch.properties);
  const discriminator =
    objects.length > 1
      ? Object.keys(objects[0]!.properties as object).find((key) =>
          objects.every((branch) => (branch.properties as Record<string, JsonSchema>)[key]?.const !== undefined),
        )
      : undefined;

  const byContent = new Map<string, { row: Row; whens: string[] }>();
  const order: string[] = [];
  for (const branch of objects) {
    const properties = branch.properties as Record<string, JsonSchema>;
    const when = discriminator ? `${discriminator}: ${properties[discriminator]!.const}` : '';
    const withoutTag = { ...branch, properties: { ...properties } };
    if (discriminator) delete (withoutTag.properties as Record<string, JsonSchema>)[discriminator];
    for (const row of childRows(withoutTag, path)) {
      const key = JSON.stringify(row);
      const seen = byContent.get(key);
      if (seen) seen.whens.push(when);
      else {
        byContent.set(key, { row, whens: [when] });
        order.push(key);
      }
    }
  }
  const tag = discriminator ? [discriminatorRow(objects, discriminator, path)] : [];
  return [
    ...tag,
    ...order.map((key) => {
      const { row, whens } = byContent.get(key)!;
      const only =
        whens.length < objects.length && whens[0]
          ? `(${discriminator}: ${whens.map((w) => w.split(': ')[1]).join(', ')}) `
          : '';
      return { ...row, description: `${only}${row.description}` };
    }),
  ];
}

function discriminatorRow(objects: JsonSchema[], discriminator: string, path: string): Row {
  const tags = objects.map((branch) => ({
    value: (branch.properties as Record<string, JsonSchema>)[discriminator]!.const as string,
    description: (branch.description as string | undefined) ?? '',
  }));
  return {
    field: path ? `${path}.${discriminator}` : discriminator,
    type: 'string',
    default: 'required',
    allowed: tags.map((tag) => code(tag.value)).join(', '),
    description: tags.map((tag) => `${code(tag.value)}: ${tag.description}`).join(' '),
  };
}

function section(kind: FileKind): string[] {
  const schema = jsonSchemaOf(kind);
  const rows = childRows(schema, '');
  return [
    `## ${kind.title}`,
    '',
    `${kind.where[0]!.toUpperCase()}${kind.where.slice(1)}. Schema: \`schemas/${kind.kind}.schema.json\`.`,
    '',
    '| Field | Type | Default | Allowed | Description |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map(
      (row) => `| ${[code(row.field), row.type, row.default, row.allowed, row.description].map(cell).join(' | ')} |`,
    ),
    '',
  ];
}

/** The whole reference, as committed at docs/reference/fields.md. */
export function fieldReference(): string {
  const anchor = (title: string) => title.toLowerCase().replaceAll(' ', '-');
  return [
    '# Field reference',
    '',
    `<!-- Generated by \`${REFERENCE_COMMAND}\` from the schemas \`looprail validate\` uses: edit the zod schemas in core/definitions/, not this file. -->`,
    '',
    'Every field of every file of an org folder: its type, its default (or `required`), the values it allows and what it does.',
    'The same schemas, as JSON Schema, give an editor completion and checks as you type: `looprail schema --out .schemas`',
    'writes them, and a first line `# yaml-language-server: $schema=./.schemas/agent.schema.json` (or `mcp-server`, `models`…)',
    'in a YAML file tells the YAML language server which one applies. `looprail validate` checks what a schema cannot:',
    'references between files, secrets, locks and scripted calls.',
    '',
    ...FILE_KINDS.map((kind) => `- [${kind.title}](#${anchor(kind.title)}): ${kind.where}`),
    '',
    ...FILE_KINDS.flatMap(section),
  ].join('\n');
}
