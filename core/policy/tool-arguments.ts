import { dereference, type OutputUnit, type Schema, type SchemaDraft, validate } from '@cfworker/json-schema';
import { INVALID_ARGUMENTS_KEY, REFUSED_ARGUMENTS_KEY } from '../definitions/messages.ts';

/**
 * A tool call's arguments are checked against the tool's own input schema before the
 * call: a model that invents or mistypes an argument gets a precise error to correct,
 * and the server never sees the malformed call.
 *
 * The checks interpret the schema (@cfworker/json-schema) instead of generating code for
 * it: a few KB in the Lambda bundles where a compiling validator weighs a hundred, and no
 * `new Function` per schema at the first call of a cold function. The messages keep the
 * wording models were told before (`arguments/a must be number`). Formats are not checked
 * (`"format": "date-time"` is the server's to enforce), as before.
 */

/** Checks a value; returns what is wrong, each problem prefixed with `name` and the value's path, or null. */
export type SchemaCheck = (value: unknown, name: string) => string | null;

const MAX_CACHED = 500;
const checks = new Map<string, SchemaCheck | null>();

/**
 * The dialect a schema declares with `$schema`. MCP servers send draft-07 (zod-to-json-schema)
 * or 2020-12; a schema that names none is read as 2020-12, MCP's default dialect. The
 * dialects differ where it matters here in `$ref` (draft-07 ignores its siblings).
 */
export function draftOf(schema: Record<string, unknown>): SchemaDraft {
  const uri = typeof schema.$schema === 'string' ? schema.$schema : '';
  if (uri.includes('draft-04')) return '4';
  if (uri.includes('draft-06') || uri.includes('draft-07')) return '7';
  if (uri.includes('2019-09')) return '2019-09';
  return '2020-12';
}

/** Keywords whose value is a schema, a list of schemas, or a map of names to schemas. */
const SUBSCHEMA = new Set([
  'not',
  'if',
  'then',
  'else',
  'items',
  'additionalItems',
  'unevaluatedItems',
  'contains',
  'additionalProperties',
  'unevaluatedProperties',
  'propertyNames',
]);
const SUBSCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems', 'items']);
const SUBSCHEMA_MAPS = new Set([
  'properties',
  'patternProperties',
  '$defs',
  'definitions',
  'dependentSchemas',
  'dependencies',
]);

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A copy of the schema without its `format` keywords (formats are annotations here). */
function withoutFormats(schema: unknown): unknown {
  if (!isRecord(schema)) return schema;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'format' && typeof value === 'string') continue;
    if (SUBSCHEMA_LISTS.has(key) && Array.isArray(value)) copy[key] = value.map(withoutFormats);
    else if (SUBSCHEMA_MAPS.has(key) && isRecord(value))
      copy[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, withoutFormats(sub)]));
    else if (SUBSCHEMA.has(key)) copy[key] = withoutFormats(value);
    else copy[key] = value;
  }
  return copy;
}

/** The schema value a failed keyword had: `#/properties/a/$ref/type` walked from the root, `$ref`s followed. */
function keywordValue(
  root: Schema,
  lookup: Record<string, Schema | boolean>,
  location: string,
): { value: unknown; parent: Record<string, unknown> } {
  const segments = location.split('/').slice(1).map(decodeURIComponent);
  let node: unknown = root;
  let parent: Record<string, unknown> = {};
  for (const segment of segments) {
    if (!isRecord(node) && !Array.isArray(node)) return { value: undefined, parent };
    if (segment === '$ref' && isRecord(node)) {
      const ref = (node.__absolute_ref__ ?? node.$ref) as string;
      node = lookup[ref];
      continue;
    }
    if (isRecord(node)) parent = node;
    node = (node as Record<string, unknown>)[segment.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return { value: node, parent };
}

/** `#/a~1b/%C3%A9` → `/a~1b/é`: the JSON pointer of the value, as ajv printed it. */
function readablePointer(location: string): string {
  try {
    return decodeURIComponent(location.slice(1));
  } catch {
    return location.slice(1);
  }
}

const quoted = (error: string) => error.match(/"([^"]*)"/)?.[1] ?? '';
const list = (values: unknown) => (Array.isArray(values) ? values : [values]).map((v) => JSON.stringify(v)).join(', ');

/** One failure in the words ajv used (`must be number`), or undefined for a wrapper that its sub-errors explain. */
function message(unit: OutputUnit, value: unknown, parent: Record<string, unknown>): string | undefined {
  switch (unit.keyword) {
    case 'type':
      return `must be ${(Array.isArray(value) ? value : [value]).join(',')}`;
    case 'const':
      return `must be equal to constant ${JSON.stringify(value)}`;
    case 'enum':
      return `must be equal to one of the allowed values: ${list(value)}`;
    case 'required':
      return `must have required property '${quoted(unit.error)}'`;
    case 'additionalProperties':
    case 'unevaluatedProperties':
      // A schema (not `false`) reports the property's own problems below it.
      return value === false ? `must NOT have additional properties ('${quoted(unit.error)}')` : undefined;
    case 'items':
    case 'additionalItems':
    case 'unevaluatedItems': {
      if (value !== false) return undefined;
      const fixed = Array.isArray(parent.prefixItems) ? parent.prefixItems : parent.items;
      return `must NOT have more than ${Array.isArray(fixed) ? fixed.length : 0} items`;
    }
    case 'minimum':
      return `must be ${parent.exclusiveMinimum === true ? '>' : '>='} ${value}`;
    case 'maximum':
      return `must be ${parent.exclusiveMaximum === true ? '<' : '<='} ${value}`;
    case 'exclusiveMinimum':
      return `must be > ${value}`;
    case 'exclusiveMaximum':
      return `must be < ${value}`;
    case 'multipleOf':
      return `must be multiple of ${value}`;
    case 'minLength':
      return `must NOT have fewer than ${value} characters`;
    case 'maxLength':
      return `must NOT have more than ${value} characters`;
    case 'pattern':
      return `must match pattern "${value}"`;
    case 'minItems':
      return `must NOT have fewer than ${value} items`;
    case 'maxItems':
      return `must NOT have more than ${value} items`;
    case 'minProperties':
      return `must NOT have fewer than ${value} properties`;
    case 'maxProperties':
      return `must NOT have more than ${value} properties`;
    case 'uniqueItems':
      return `must NOT have duplicate items (${unit.error.replace(/^Duplicate items at /, '').replace(/\.$/, '')})`;
    case 'anyOf':
      return 'must match a schema in anyOf';
    case 'oneOf':
      return 'must match exactly one schema in oneOf';
    case 'not':
      return 'must NOT be valid';
    case 'if':
      return `must match "${unit.error.includes('"then"') ? 'then' : 'else'}" schema`;
    case 'contains':
    case 'minContains':
    case 'maxContains':
      return `must contain the items its "${unit.keyword}" asks for (${unit.error.replace(/\.$/, '')})`;
    case 'dependentRequired':
    case 'dependencies': {
      const [present, missing] = [...unit.error.matchAll(/"([^"]*)"/g)].map((match) => match[1]);
      return missing ? `must have property ${missing} when property ${present} is present` : undefined;
    }
    case 'propertyNames':
      return `property name '${quoted(unit.error)}' is invalid`;
    case 'false':
      return 'boolean schema is false';
    default:
      // $ref, allOf, properties, items, …: wrappers whose sub-errors say what is wrong.
      return undefined;
  }
}

/** The schema as a check; throws when the schema cannot be used (a `$ref` to nowhere, a value that is no schema). */
export function compileSchema(schema: Record<string, unknown>): SchemaCheck {
  const root = withoutFormats(schema) as Schema;
  const draft = draftOf(schema);
  const lookup = dereference(root);
  return (value, name) => {
    // Every error, not the first: the model fixes all its mistakes in one turn.
    const result = validate(value, root, draft, lookup, false);
    if (result.valid) return null;
    const problems = new Set<string>();
    // A `false` schema's own error follows the error of the keyword that holds it, which said it better.
    let heldFalse = false;
    for (const unit of result.errors) {
      const { value: keyword, parent } = keywordValue(root, lookup, unit.keywordLocation);
      const text = unit.keyword === 'false' && heldFalse ? undefined : message(unit, keyword, parent);
      heldFalse = keyword === false;
      if (text) problems.add(`${name}${readablePointer(unit.instanceLocation)} ${text}`);
    }
    return [...problems].join('; ') || `${name} does not match its schema`;
  };
}

function checkFor(schema: Record<string, unknown>): SchemaCheck | null {
  const key = JSON.stringify(schema);
  if (checks.has(key)) return checks.get(key)!;
  let check: SchemaCheck | null;
  try {
    const compiled = compileSchema(schema);
    // A schema that fails on a value is as unusable as one that fails to load (an unresolved `$ref`).
    check = (value, name) => {
      try {
        return compiled(value, name);
      } catch {
        return null;
      }
    };
  } catch {
    // A schema we cannot use is the server's to enforce; we do not block on it.
    check = null;
  }
  if (checks.size >= MAX_CACHED) checks.delete(checks.keys().next().value!);
  checks.set(key, check);
  return check;
}

/** What is wrong with a value, in its schema's terms (`input/repo must be string`); null when it fits. */
export function schemaProblems(schema: Record<string, unknown>, value: unknown, name: string): string | null {
  return checkFor(schema)?.(value, name) ?? null;
}

/** What is wrong with the arguments, in the schema's terms; null when they fit. */
export function argumentProblems(schema: Record<string, unknown>, args: Record<string, unknown>): string | null {
  if (INVALID_ARGUMENTS_KEY in args)
    return `the arguments were not a JSON object: ${String(args[INVALID_ARGUMENTS_KEY]).slice(0, 200)}`;
  if (REFUSED_ARGUMENTS_KEY in args) return String(args[REFUSED_ARGUMENTS_KEY]);
  return schemaProblems(schema, args, 'arguments');
}
