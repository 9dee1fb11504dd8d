import fc from 'fast-check';

/**
 * Random secrets and the encodings a secret can take on its way to a sink, for the
 * redaction property tests (unit and through a real run). Each encoding says how to
 * decode it back, so a test can check that no decoded form of a redacted text still
 * holds the secret.
 */

/** Characters that change form under some encoding: quotes, backslashes, controls, `%`, `+`, `/`, non-ASCII. */
const AWKWARD = [
  '"',
  "'",
  '\\',
  '\n',
  '\r',
  '\t',
  '\u0000',
  '\u0001',
  '\u001f',
  '\u007f',
  '/',
  '%',
  '+',
  ' ',
  '&',
  '=',
  '<',
  'é',
  'ß',
  '€',
  '中',
  '😀',
  '\u2028',
];

/** A secret of 8–32 characters (after trimming), mixing letters, digits and awkward characters. */
export const secretArbitrary: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_') },
      { weight: 2, arbitrary: fc.constantFrom(...AWKWARD) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
    ),
    { minLength: 8, maxLength: 32 },
  )
  .map((chars) => chars.join(''))
  .filter((secret) => secret.trim().length >= 8 && !secret.includes('[redacted]'));

export interface SecretEncoding {
  name: string;
  /** The secret as it appears in a text. */
  encode(secret: string): string;
  /** Every text this encoding's reader would see in `text`: a test checks none holds the secret. */
  decode(text: string): string[];
}

const toBase64 = (text: string, prefix: number, url: boolean) => {
  const bytes = Buffer.concat([Buffer.from('xyz'.slice(0, prefix)), Buffer.from(text), Buffer.from('!?')]);
  return bytes.toString(url ? 'base64url' : 'base64');
};

/** Every 4-character alignment of every piece between markers, base64-decoded: what a reader of a cut base64 text could get back. */
function base64Pieces(text: string): string[] {
  const decoded: string[] = [];
  for (const piece of text.split(/[^A-Za-z0-9+/_-]+/)) {
    for (let shift = 0; shift < 4; shift += 1) {
      const part = piece.slice(shift).replace(/-/g, '+').replace(/_/g, '/');
      decoded.push(Buffer.from(part.slice(0, part.length - (part.length % 4)), 'base64').toString('utf8'));
    }
  }
  return decoded;
}

const unicodeEscape = (char: string, upper: boolean) => {
  const hex = char.charCodeAt(0).toString(16).padStart(4, '0');
  return `\\u${upper ? hex.toUpperCase() : hex}`;
};

const jsonParse = (text: string): string[] => {
  const unescaped = text.replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
  const simple = unescaped.replace(
    /\\(["\\/bfnrt])/g,
    (_, c: string) => ({ b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' })[c] ?? c,
  );
  return [text, simple];
};

const uriDecode = (text: string, form: boolean): string[] => {
  const plus = form ? text.replace(/\+/g, ' ') : text;
  // Decoded piece by piece: a marker in the middle must not stop the rest from being read.
  return [
    text,
    plus.replace(/(%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    }),
  ];
};

export const SECRET_ENCODINGS: readonly SecretEncoding[] = [
  { name: 'raw', encode: (s) => s, decode: (t) => [t] },
  { name: 'with a trailing newline', encode: (s) => `${s}\n`, decode: (t) => [t] },
  { name: 'trimmed', encode: (s) => s.trim(), decode: (t) => [t] },
  { name: 'JSON-escaped', encode: (s) => JSON.stringify(s).slice(1, -1), decode: jsonParse },
  { name: 'JSON with \\/', encode: (s) => JSON.stringify(s).slice(1, -1).replace(/\//g, '\\/'), decode: jsonParse },
  {
    name: '\\u-escaped, upper-case hex',
    encode: (s) =>
      s
        .split('')
        .map((unit) => unicodeEscape(unit, true))
        .join(''),
    decode: jsonParse,
  },
  {
    name: '\\u-escaped, lower-case hex',
    encode: (s) =>
      s
        .split('')
        .map((unit) => unicodeEscape(unit, false))
        .join(''),
    decode: jsonParse,
  },
  {
    name: 'split across JSON escapes (every other character \\u-escaped)',
    encode: (s) =>
      Array.from({ length: s.length }, (_, i) =>
        i % 2 === 0 ? unicodeEscape(s[i]!, i % 4 === 0) : JSON.stringify(s[i]).slice(1, -1),
      ).join(''),
    decode: jsonParse,
  },
  {
    name: 'JSON in JSON',
    encode: (s) => JSON.stringify(JSON.stringify({ token: s })).slice(1, -1),
    decode: (t) => jsonParse(t).flatMap(jsonParse),
  },
  { name: 'URL-encoded', encode: (s) => encodeURIComponent(s), decode: (t) => uriDecode(t, false) },
  {
    name: 'URL-encoded, lower-case hex',
    encode: (s) => encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    decode: (t) => uriDecode(t, false),
  },
  {
    name: 'form-encoded',
    encode: (s) => encodeURIComponent(s).replace(/%20/g, '+'),
    decode: (t) => uriDecode(t, true),
  },
  ...[0, 1, 2].flatMap((offset) => [
    {
      name: `base64 at byte offset ${offset}`,
      encode: (s: string) => toBase64(s, offset, false),
      decode: base64Pieces,
    },
    {
      name: `base64url at byte offset ${offset}`,
      encode: (s: string) => toBase64(s, offset, true),
      decode: base64Pieces,
    },
  ]),
  {
    name: 'base64 inside JSON (\\/ escaped)',
    encode: (s) => toBase64(s, 1, false).replace(/\//g, '\\/'),
    decode: (t) => jsonParse(t).flatMap(base64Pieces),
  },
];

/** The base64 (and base64url) characters that hold only the secret, at each byte offset: computed with Buffer, independently of the redactor. */
function base64Middles(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [0, 1, 2].flatMap((offset) => {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    const middle = encoded.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + bytes.length)) / 6));
    return [middle, middle.replace(/\+/g, '-').replace(/\//g, '_')];
  });
}

/** The names of the forms of `secret` found in `haystack` (a sink's contents); empty when none is. */
export function occurrences(haystack: string, secret: string): string[] {
  const forms = new Map<string, string>();
  for (const encoding of SECRET_ENCODINGS) {
    if (!encoding.name.startsWith('base64')) forms.set(encoding.encode(secret), encoding.name);
  }
  for (const middle of base64Middles(secret)) forms.set(middle, 'base64');
  return [...forms].flatMap(([form, name]) => (form.trim().length >= 8 && haystack.includes(form) ? [name] : []));
}
