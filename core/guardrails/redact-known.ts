/**
 * Keeps resolved secret values out of everything recorded: messages, trace details, errors.
 * Unlike the PII rule this needs no guessing: the values are known, so every occurrence is
 * replaced, whatever its shape.
 */

export const KNOWN_VALUE_REPLACEMENT = '[redacted]';

/** Shorter values would match ordinary words and numbers; a real secret is longer. */
export const MIN_KNOWN_VALUE_LENGTH = 8;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The forms a value takes in recorded text: as is, without the trailing newline a secrets
 * file often adds, and JSON-escaped (a value with quotes, backslashes or newlines looks
 * different inside serialised JSON). Longest first, so a value containing another is
 * replaced whole.
 */
function needlesOf(values: readonly string[]): string[] {
  const needles = new Set<string>();
  for (const value of values) {
    for (const form of [value, value.trim()]) {
      if (form.length < MIN_KNOWN_VALUE_LENGTH) continue;
      needles.add(form);
      needles.add(JSON.stringify(form).slice(1, -1));
    }
  }
  return [...needles].sort((a, b) => b.length - a.length);
}

function matcherFor(values: readonly string[]): RegExp | undefined {
  const needles = needlesOf(values);
  return needles.length > 0 ? new RegExp(needles.map(escapeRegExp).join('|'), 'g') : undefined;
}

/** Replaces every occurrence of any of `values` (those of at least 8 characters) with `[redacted]`. */
export function redactKnownValues(text: string, values: readonly string[]): string {
  const matcher = matcherFor(values);
  return matcher ? text.replace(matcher, () => KNOWN_VALUE_REPLACEMENT) : text;
}

/** The same for every string leaf of a JSON-like value (object keys included), keeping its shape. */
export function redactKnownValuesDeep<T>(value: T, values: readonly string[]): T {
  const matcher = matcherFor(values);
  if (!matcher) return value;
  const redact = (text: string) => text.replace(matcher, () => KNOWN_VALUE_REPLACEMENT);
  const walk = (item: unknown): unknown => {
    if (typeof item === 'string') return redact(item);
    if (Array.isArray(item)) return item.map(walk);
    if (
      typeof item === 'object' &&
      item !== null &&
      (Object.getPrototypeOf(item) === Object.prototype || Object.getPrototypeOf(item) === null)
    ) {
      return Object.fromEntries(Object.entries(item).map(([key, child]) => [redact(key), walk(child)]));
    }
    return item;
  };
  return walk(value) as T;
}
