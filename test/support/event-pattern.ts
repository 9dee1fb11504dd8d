/**
 * EventBridge event-pattern matching, for testing the synthesized rules against real-looking
 * events: every key of the pattern must match (AND), `$or` takes any of its branches, an
 * array lists the values a leaf may have (any of them; an array in the event matches when
 * one of its elements does), and the content filters the stack uses: `prefix`, `suffix`,
 * `equals-ignore-case`, `anything-but` (a value, a list or a prefix), `exists` and `numeric`.
 * A field the event does not have matches only `exists: false`; `anything-but` never matches
 * null (the strict reading: a rule that must catch null says so explicitly). Anything else
 * in a pattern throws, so a test never passes over a filter this does not know.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (value: unknown): value is JsonObject =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

export function matchesEventPattern(pattern: Record<string, unknown>, event: unknown): boolean {
  return matchObject(pattern as JsonObject, event, '');
}

function matchObject(pattern: JsonObject, value: unknown, path: string): boolean {
  if (!isObject(value)) return false;
  return Object.entries(pattern).every(([key, sub]) => {
    const where = `${path}.${key}`;
    if (key === '$or') {
      if (!Array.isArray(sub)) throw new Error(`${where}: expected a list of patterns`);
      return sub.some((branch) => isObject(branch) && matchObject(branch, value, path));
    }
    const present = Object.hasOwn(value, key);
    if (Array.isArray(sub)) return sub.some((matcher) => matchLeaf(matcher, present, value[key], where));
    if (isObject(sub)) return present && matchObject(sub, value[key], where);
    throw new Error(`${where}: expected a list of values or a nested pattern, got ${JSON.stringify(sub)}`);
  });
}

function matchLeaf(matcher: Json, present: boolean, field: Json | undefined, where: string): boolean {
  if (isObject(matcher) && 'exists' in matcher) return matcher.exists === present;
  if (!present) return false;
  const values = Array.isArray(field) ? field : [field ?? null];
  return values.some((value) => matchValue(matcher, value, where));
}

function matchValue(matcher: Json, value: Json, where: string): boolean {
  if (!isObject(matcher)) return matcher === value;
  const [kind, argument] = Object.entries(matcher)[0] ?? [];
  switch (kind) {
    case 'prefix':
      return typeof value === 'string' && value.startsWith(String(argument));
    case 'suffix':
      return typeof value === 'string' && value.endsWith(String(argument));
    case 'equals-ignore-case':
      return typeof value === 'string' && value.toLowerCase() === String(argument).toLowerCase();
    case 'anything-but':
      if (value === null) return false;
      if (isObject(argument) && 'prefix' in argument)
        return typeof value === 'string' && !value.startsWith(String(argument.prefix));
      return ![argument].flat().includes(value);
    case 'numeric':
      return typeof value === 'number' && numeric(argument as Json[], value);
    default:
      throw new Error(`${where}: this matcher does not know ${JSON.stringify(matcher)}`);
  }
}

function numeric(conditions: Json[], value: number): boolean {
  for (let i = 0; i < conditions.length; i += 2) {
    const bound = Number(conditions[i + 1]);
    const ok = {
      '<': value < bound,
      '<=': value <= bound,
      '=': value === bound,
      '>': value > bound,
      '>=': value >= bound,
    }[String(conditions[i])];
    if (!ok) return false;
  }
  return true;
}
