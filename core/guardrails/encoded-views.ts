/**
 * Decoded views of a text, each character traced back to the span of the original text it
 * came from. A secret written with escapes (`\"`, `\u0041`, `%2F`, `+`) is found by searching
 * the decoded view, and the span it came from is what gets redacted, so redaction works
 * after decoding while still editing the text as it was written. Every decoder is one
 * linear pass; none uses a regular expression.
 */

export interface DecodedView {
  text: string;
  /** For decoded character i, the original span [from[i], to[i]); absent for the text itself. */
  from?: Int32Array;
  to?: Int32Array;
}

/** A decoder's output over its input: characters and, for each, the input span it came from. Never longer than the input. */
class Decoded {
  readonly units: Uint16Array;
  readonly from: Int32Array;
  readonly to: Int32Array;
  length = 0;

  constructor(capacity: number) {
    this.units = new Uint16Array(capacity);
    this.from = new Int32Array(capacity);
    this.to = new Int32Array(capacity);
  }

  emit(unit: number, start: number, end: number): void {
    this.units[this.length] = unit;
    this.from[this.length] = start;
    this.to[this.length] = end;
    this.length += 1;
  }
}

/** Decoders, by what must be present in a text for them to change anything. */
const DECODERS: ReadonlyArray<{ trigger: RegExp; decode: (text: string) => Decoded }> = [
  { trigger: /\\/, decode: jsonStringUnescape },
  { trigger: /%/, decode: (text) => percentDecode(text, false) },
  { trigger: /[%+]/, decode: (text) => percentDecode(text, true) },
];

/** Decoding is applied this many times in a row at most: JSON in JSON, a URL in JSON. */
const MAX_DEPTH = 2;

/** The text itself, then every view of it up to MAX_DEPTH decodings deep that differs from those before. */
export function decodedViews(text: string): DecodedView[] {
  const views: DecodedView[] = [{ text }];
  const seen = new Set([text]);
  let frontier: DecodedView[] = [views[0]!];
  for (let depth = 0; depth < MAX_DEPTH && frontier.length > 0; depth += 1) {
    const next: DecodedView[] = [];
    for (const view of frontier) {
      for (const { trigger, decode } of DECODERS) {
        if (!trigger.test(view.text)) continue;
        const decoded = compose(view, decode(view.text));
        if (seen.has(decoded.text)) continue;
        seen.add(decoded.text);
        views.push(decoded);
        next.push(decoded);
      }
    }
    frontier = next;
  }
  return views;
}

/** The span of the original text that characters [start, end) of a view came from. */
export function originalSpan(view: DecodedView, start: number, end: number): [number, number] {
  if (!view.from || !view.to) return [start, end];
  return [view.from[start]!, view.to[end - 1]!];
}

function compose(base: DecodedView, decoded: Decoded): DecodedView {
  const count = decoded.length;
  const from = decoded.from.slice(0, count);
  const to = decoded.to.slice(0, count);
  if (base.from && base.to) {
    for (let i = 0; i < count; i += 1) {
      from[i] = base.from[from[i]!]!;
      to[i] = base.to[to[i]! - 1]!;
    }
  }
  return { text: fromUnits(decoded.units.subarray(0, count)), from, to };
}

const UTF16 = new TextDecoder('utf-16le');

function fromUnits(units: Uint16Array): string {
  const text = UTF16.decode(units);
  // The decoder replaces a lone surrogate (which a `\uD800` escape can produce): then character by character.
  if (!text.includes('\uFFFD')) return text;
  const chunks: string[] = [];
  for (let i = 0; i < units.length; i += 4096) chunks.push(String.fromCharCode(...units.subarray(i, i + 4096)));
  return chunks.join('');
}

/** The character each one-letter escape stands for, by the letter's code: `\"`, `\\`, `\/`, `\b\f\n\r\t`. */
const SHORT_ESCAPES = new Int32Array(128).fill(-1);
for (const [letter, unit] of Object.entries({ '"': 0x22, '\\': 0x5c, '/': 0x2f, b: 8, f: 12, n: 10, r: 13, t: 9 })) {
  SHORT_ESCAPES[letter.charCodeAt(0)] = unit;
}

/**
 * The escapes of a JSON string decoded wherever they appear (a JSON document, a log line
 * that quotes one): `\"`, `\\`, `\/`, `\b\f\n\r\t` and `\uXXXX` in either case. A `\u`
 * escape is one UTF-16 unit, so a surrogate pair written as two escapes decodes to the
 * character. A backslash that starts no escape stays as it is.
 */
function jsonStringUnescape(text: string): Decoded {
  const out = new Decoded(text.length);
  let i = 0;
  while (i < text.length) {
    if (text.charCodeAt(i) === 0x5c && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      const short = next < 128 ? SHORT_ESCAPES[next]! : -1;
      if (short >= 0) {
        out.emit(short, i, i + 2);
        i += 2;
        continue;
      }
      const hex = next === 0x75 ? hexValue(text, i + 2, 4) : -1;
      if (hex >= 0) {
        out.emit(hex, i, i + 6);
        i += 6;
        continue;
      }
    }
    out.emit(text.charCodeAt(i), i, i + 1);
    i += 1;
  }
  return out;
}

/**
 * `%XX` escapes decoded as UTF-8 (in either case), as encodeURIComponent and form encoding
 * write them; with `form`, `+` is a space. A byte that is not part of valid UTF-8 stays as
 * its escape.
 */
function percentDecode(text: string, form: boolean): Decoded {
  const out = new Decoded(text.length);
  let i = 0;
  while (i < text.length) {
    const char = text.charCodeAt(i);
    if (char === 0x25) {
      const consumed = utf8Escape(text, i, out);
      if (consumed > 0) {
        i += consumed;
        continue;
      }
    }
    out.emit(form && char === 0x2b ? 0x20 : char, i, i + 1);
    i += 1;
  }
  return out;
}

/** Decodes the one UTF-8 character whose escapes start at `start`; the characters consumed, 0 if none. */
function utf8Escape(text: string, start: number, out: Decoded): number {
  const lead = escapedByte(text, start);
  if (lead < 0) return 0;
  const length =
    lead < 0x80
      ? 1
      : lead >= 0xc2 && lead < 0xe0
        ? 2
        : lead >= 0xe0 && lead < 0xf0
          ? 3
          : lead >= 0xf0 && lead < 0xf5
            ? 4
            : 0;
  if (length === 0) return 0;
  let codePoint = length === 1 ? lead : lead & (0xff >> (length + 1));
  for (let k = 1; k < length; k += 1) {
    const byte = escapedByte(text, start + 3 * k);
    if (byte < 0 || (byte & 0xc0) !== 0x80) return 0;
    codePoint = (codePoint << 6) | (byte & 0x3f);
  }
  const minimum = [0, 0, 0x80, 0x800, 0x10000][length]!;
  if (codePoint < minimum || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) return 0;
  const end = start + 3 * length;
  const units =
    codePoint > 0xffff
      ? [0xd800 + ((codePoint - 0x10000) >> 10), 0xdc00 + ((codePoint - 0x10000) & 0x3ff)]
      : [codePoint];
  for (const unit of units) out.emit(unit, start, end);
  return 3 * length;
}

function escapedByte(text: string, at: number): number {
  return text.charCodeAt(at) === 0x25 ? hexValue(text, at + 1, 2) : -1;
}

/** The value of `digits` hex digits at `at`, or -1. */
function hexValue(text: string, at: number, digits: number): number {
  if (at + digits > text.length) return -1;
  let value = 0;
  for (let k = 0; k < digits; k += 1) {
    const code = text.charCodeAt(at + k);
    const digit =
      code >= 0x30 && code <= 0x39
        ? code - 0x30
        : code >= 0x41 && code <= 0x46
          ? code - 55
          : code >= 0x61 && code <= 0x66
            ? code - 87
            : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}
