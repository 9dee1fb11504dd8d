/**
 * A tool's input schema as a model needs it: what a server publishes minus the keywords no
 * provider's tool format uses (`$schema`, `$comment`). They are sent with every request, for
 * every tool (about 690 tokens a request on the token benchmark's servers), and tell the
 * model nothing. Property names are never touched, only keywords, and the pin is computed
 * from the server's schema as published, not from this one.
 */

/** The keywords dropped, wherever they appear in a schema. */
export const DROPPED_KEYWORDS: ReadonlySet<string> = new Set(['$schema', '$comment']);
/** Keywords whose value is one schema, a list of schemas, or a map of name → schema. */
const ONE = new Set([
  'items',
  'additionalProperties',
  'not',
  'if',
  'then',
  'else',
  'contains',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
  'additionalItems',
]);
const LIST = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
const MAP = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);
/** Deeper than any real tool schema: past it a schema is passed on as published rather than walked. */
const MAX_DEPTH = 64;

type Schema = Record<string, unknown>;

const isSchema = (value: unknown): value is Schema =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function modelToolSchema(schema: Schema): Schema {
  return lean(schema, 0);
}

function lean(schema: Schema, depth: number): Schema {
  if (depth > MAX_DEPTH) return schema;
  const out: Schema = {};
  for (const [keyword, value] of Object.entries(schema)) {
    if (DROPPED_KEYWORDS.has(keyword)) continue;
    if (ONE.has(keyword) && isSchema(value)) out[keyword] = lean(value, depth + 1);
    else if ((keyword === 'items' || LIST.has(keyword)) && Array.isArray(value))
      out[keyword] = value.map((each) => (isSchema(each) ? lean(each, depth + 1) : each));
    else if (MAP.has(keyword) && isSchema(value))
      out[keyword] = Object.fromEntries(
        Object.entries(value).map(([name, each]) => [name, isSchema(each) ? lean(each, depth + 1) : each]),
      );
    else out[keyword] = value;
  }
  return out;
}
