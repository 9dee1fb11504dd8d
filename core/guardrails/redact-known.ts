import { type DecodedView, decodedViews, originalSpan } from './encoded-views.ts';

/**
 * Keeps resolved secret values out of everything recorded or sent: messages, tool results,
 * trace details, errors, logs, events, mail, the requests to model providers. Unlike the PII
 * rule this needs no guessing: the values are known, so every occurrence is replaced, in
 * every form it can take:
 *
 * - as is, and without the whitespace (a trailing newline) a secrets file often adds;
 * - inside JSON strings (`\"`, `\\`, `\/`, `\n`, `\u00XX` in either case, any mix of escaped
 *   and plain characters), also JSON inside JSON;
 * - URL-encoded (`%XX` in either case, and form encoding's `+`), also inside JSON;
 * - base64 and base64url, also when the value is only part of what was encoded (at any
 *   byte offset): the characters that depend on the value alone are matched.
 *
 * Escaped forms are found by decoding the text (encoded-views.ts) and replacing the span
 * of the original that the secret decoded from. Values shorter than MIN_KNOWN_VALUE_LENGTH
 * are not redacted: they would match ordinary words. The README says what this covers
 * ("Secrets are redacted in every encoding").
 */

export const KNOWN_VALUE_REPLACEMENT = '[redacted]';

/** Shorter values would match ordinary words and numbers; a real secret is longer. */
export const MIN_KNOWN_VALUE_LENGTH = 8;

/** Replaces known secret values in text and in structured values; built once per set of values. */
export interface KnownValueRedactor {
  redact(text: string): string;
  /** The same for every string leaf of a JSON-like value (object keys included), keeping its shape. */
  redactDeep<T>(value: T): T;
}

/** A replacement can complete a value only when the value itself holds the marker; a few passes end that too. */
const MAX_PASSES = 3;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function base64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const chunk = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
    for (let k = 0; k < chars; k += 1) out += BASE64[(chunk >> (18 - 6 * k)) & 63];
  }
  return out;
}

/**
 * The base64 characters that depend on `value` alone, for each of the three byte offsets
 * it can sit at inside what was encoded: the first and last characters of each also carry
 * bits of the neighbouring bytes, so they are left out. Standard and URL alphabets.
 */
export function base64Forms(value: string): string[] {
  const bytes = new TextEncoder().encode(value);
  const forms: string[] = [];
  for (let offset = 0; offset < 3; offset += 1) {
    const shifted = new Uint8Array(offset + bytes.length);
    shifted.set(bytes, offset);
    const start = Math.ceil((8 * offset) / 6);
    const end = Math.floor((8 * (offset + bytes.length)) / 6);
    const middle = base64(shifted).slice(start, end);
    forms.push(middle, middle.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return forms;
}

/** What is searched for in each decoded view: each value and its trimmed form, plain and in base64. Longest first. */
function needlesOf(values: readonly string[]): string[] {
  const needles = new Set<string>();
  for (const value of values) {
    for (const form of new Set([value, value.trim()])) {
      if (form.length < MIN_KNOWN_VALUE_LENGTH) continue;
      needles.add(form);
      for (const encoded of base64Forms(form)) if (encoded.length >= MIN_KNOWN_VALUE_LENGTH) needles.add(encoded);
    }
  }
  return [...needles].sort((a, b) => b.length - a.length);
}

/** Original spans of every occurrence (overlapping ones too) of any needle in any decoded view. */
function spansIn(text: string, matcher: RegExp): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  const search = (view: DecodedView) => {
    matcher.lastIndex = 0;
    for (let match = matcher.exec(view.text); match; match = matcher.exec(view.text)) {
      spans.push(originalSpan(view, match.index, match.index + match[0].length));
      matcher.lastIndex = match.index + 1;
    }
  };
  search({ text });
  // The decoded views are built only for text that has something to decode.
  if (/[\\%+]/.test(text)) for (const view of decodedViews(text).slice(1)) search(view);
  return spans;
}

function replaceSpans(text: string, spans: Array<[number, number]>): string {
  spans.sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = 0;
  for (let i = 0; i < spans.length; ) {
    let [start, end] = spans[i]!;
    for (i += 1; i < spans.length && spans[i]![0] <= end; i += 1) end = Math.max(end, spans[i]![1]);
    out += text.slice(at, start) + KNOWN_VALUE_REPLACEMENT;
    at = end;
  }
  return out + text.slice(at);
}

function isPlainObject(item: unknown): item is Record<string, unknown> {
  if (typeof item !== 'object' || item === null) return false;
  const prototype = Object.getPrototypeOf(item);
  return prototype === Object.prototype || prototype === null;
}

const NOTHING_KNOWN: KnownValueRedactor = { redact: (text) => text, redactDeep: (value) => value };

function buildRedactor(values: readonly string[]): KnownValueRedactor {
  const needles = needlesOf(values);
  if (needles.length === 0) return NOTHING_KNOWN;
  // Literal alternatives only: the search is linear in the text times the needles, never catastrophic.
  const matcher = new RegExp(needles.map(escapeRegExp).join('|'), 'g');
  const redact = (text: string): string => {
    let current = text;
    for (let pass = 0; pass < MAX_PASSES; pass += 1) {
      const spans = spansIn(current, matcher);
      if (spans.length === 0) return current;
      current = replaceSpans(current, spans);
    }
    return current;
  };
  const remembered = rememberingLongTexts(redact);
  return { redact: remembered, redactDeep: <T>(value: T) => mapStrings(value, remembered) as T };
}

/** Texts shorter than this are redacted each time: looking them up would cost about as much. */
const REMEMBER_FROM_CHARS = 256;
/** How much redacted text is kept, for all redactors together (UTF-16 units of originals and results): a few MB. */
const REMEMBER_CHARS = 4 * 1024 * 1024;

/**
 * Long texts already redacted, by content, with the redactor that redacted them (least
 * recently used first out). A run's state is loaded and written at every step, and all of it
 * but the newest turn was redacted before: without this a run pays again for its whole history
 * at each step. One budget for the process: a process that learns a new secret compiles a new
 * redactor, and the old ones' texts must not pile up beside it.
 */
const remembered = new Map<string, { by: object; result: string }>();
let rememberedChars = 0;

function rememberingLongTexts(redact: (text: string) => string): (text: string) => string {
  const self = {};
  return (text) => {
    if (text.length < REMEMBER_FROM_CHARS) return redact(text);
    const known = remembered.get(text);
    if (known?.by === self) {
      remembered.delete(text);
      remembered.set(text, known);
      return known.result;
    }
    const result = redact(text);
    if (text.length + result.length > REMEMBER_CHARS) return result;
    if (known) rememberedChars -= text.length + known.result.length;
    remembered.delete(text);
    remembered.set(text, { by: self, result });
    rememberedChars += text.length + result.length;
    for (const [oldest, entry] of remembered) {
      if (rememberedChars <= REMEMBER_CHARS) break;
      remembered.delete(oldest);
      rememberedChars -= oldest.length + entry.result.length;
    }
    return result;
  };
}

/**
 * A copy of a JSON-like value with every string (object keys included) passed through `map`.
 * Iterative, with an explicit stack: the values walked here come from outside (a model's
 * answer, a tool's result) before their shape is checked, and recursion would overflow on a
 * deeply nested one.
 */
function mapStrings(value: unknown, map: (text: string) => string): unknown {
  const shell = (item: unknown): unknown =>
    typeof item === 'string' ? map(item) : Array.isArray(item) ? [] : isPlainObject(item) ? {} : item;
  const isContainer = (item: unknown): item is object => Array.isArray(item) || isPlainObject(item);
  const root = shell(value);
  const stack: Array<[unknown, Record<string, unknown> | unknown[]]> = isContainer(value)
    ? [[value, root as Record<string, unknown> | unknown[]]]
    : [];
  while (stack.length > 0) {
    const [source, target] = stack.pop()!;
    const entries = Array.isArray(source) ? source.entries() : Object.entries(source as object);
    for (const [key, child] of entries) {
      const copy = shell(child);
      if (Array.isArray(target)) target[key as number] = copy;
      else target[map(String(key))] = copy;
      if (isContainer(child)) stack.push([child, copy as Record<string, unknown> | unknown[]]);
    }
  }
  return root;
}

/** Redactors by their set of values: a set is compiled once, however often it is used. */
const compiled = new Map<string, KnownValueRedactor>();
const MAX_COMPILED = 64;

/** The redactor for `values`, compiled on first use and kept (the most recent sets). */
export function knownValueRedactor(values: readonly string[]): KnownValueRedactor {
  const key = [...new Set(values)].sort().join('\u0000');
  const cached = compiled.get(key);
  if (cached) return cached;
  const redactor = buildRedactor(values);
  if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
  compiled.set(key, redactor);
  return redactor;
}

/** Replaces every occurrence of any of `values` (those of at least 8 characters), in any form, with `[redacted]`. */
export function redactKnownValues(text: string, values: readonly string[]): string {
  return knownValueRedactor(values).redact(text);
}

/** The same for every string leaf of a JSON-like value (object keys included), keeping its shape. */
export function redactKnownValuesDeep<T>(value: T, values: readonly string[]): T {
  return knownValueRedactor(values).redactDeep(value);
}
