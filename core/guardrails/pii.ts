import type { PiiKind, PiiRule } from '../definitions/guardrails.ts';
import { ACTION_VERB, countByKind, plural, type Finding, type GuardrailAction, type Stage } from './types.ts';

/**
 * PII and credentials: emails, phone numbers, payment cards, IBANs, AWS access key ids,
 * private key blocks and common API-key shapes. Every detector is tuned for a low
 * false-positive rate (checksums where the format has one, separators or prefixes where it
 * does not) and every regex is linear: no nested quantifiers over overlapping classes, and a
 * lookbehind at each start so a long run of the same characters is not re-scanned from
 * every position.
 */

export const PII_RULE = 'pii';

export function piiReplacement(kind: PiiKind): string {
  return `[redacted:${kind}]`;
}

interface Span {
  start: number;
  end: number;
}

/** All matches of a global regex that pass `accept`, as spans. */
function spansOf(text: string, pattern: RegExp, accept: (value: string) => boolean = () => true): Span[] {
  const spans: Span[] = [];
  for (const match of text.matchAll(pattern)) {
    if (accept(match[0])) spans.push({ start: match.index, end: match.index + match[0].length });
  }
  return spans;
}

/** Spans from several patterns for the same kind, overlaps joined. */
function unionOf(spanLists: Span[][]): Span[] {
  const sorted = spanLists.flat().sort((a, b) => a.start - b.start || b.end - a.end);
  const joined: Span[] = [];
  for (const span of sorted) {
    const last = joined.at(-1);
    if (last && span.start < last.end) last.end = Math.max(last.end, span.end);
    else joined.push({ ...span });
  }
  return joined;
}

// --- email -------------------------------------------------------------------------------

const EMAIL = /(?<![\w.%+-])[\w.%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![\w-])/g;

/** `icon@2x.png` is a high-density image, not an address: no such top-level domains. */
const FILE_EXTENSION_TLD = /\.(?:png|jpe?g|gif|svg|webp|avif|ico|css|js)$/i;

function plausibleEmail(value: string): boolean {
  return !FILE_EXTENSION_TLD.test(value);
}

// --- phone -------------------------------------------------------------------------------

/**
 * Only shapes people write phone numbers in, never a bare digit run: `+` and a country
 * code, or a national number with separators. Each group after the first starts with a
 * mandatory separator, so splitting digits between groups is unambiguous. Candidates then
 * need 9–15 digits (10–12 for national ones) and must not contain a date.
 */
const PHONE_PATTERNS: readonly RegExp[] = [
  // +44 20 7946 0958 · +1 (415) 555-2671 · +44 (0)20 7946 0958 · +49-151-12345678
  /(?<![\w+])\+[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\)[ .-]?\d{1,8}(?:[ .-]\d{1,8}){0,5}|(?:[ .-]\d{1,8}){1,6})(?![\w+]|[.-]\d)/g,
  // +14155552671 (E.164, written solid)
  /(?<![\w+])\+[1-9]\d{8,14}(?![\w+])/g,
  // (415) 555-2671 · 415-555-2671 · 415.555.2671 · 415 555 2671
  /(?<![\w+\-./#])(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w|[.-]\d)/g,
  // 020 7946 0958 · 07700 900123 · 030 12345678 · 01 23 45 67 89 · (020) 7946 0958
  /(?<![\w+\-./#])(?:\(0\d{1,4}\) ?\d{2,8}|0[1-9]\d{0,3})(?:[ -]\d{2,8}){0,4}(?!\w|[.-]\d)/g,
];

const DATE_INSIDE = /\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}/;

function digitsOf(value: string): string {
  return value.replace(/\D/g, '');
}

function plausiblePhone(value: string): boolean {
  if (DATE_INSIDE.test(value)) return false;
  // "+44 (0)20": the (0) is a trunk prefix people add, not part of the number.
  const digits = digitsOf(value.replace('(0)', ''));
  if (value.startsWith('+')) return digits.length >= 9 && digits.length <= 15;
  return digits.length >= 10 && digits.length <= 12;
}

// --- payment cards -----------------------------------------------------------------------

/** 13–19 digits, optionally grouped with single spaces or dashes, not part of a longer number. */
const CARD_CANDIDATE = /(?<![\w+-]|\d[ -])\d(?:[ -]?\d){12,18}(?!\w|[ -]\d)/g;

/** Issuer prefixes and lengths: a Luhn-valid number with no issuer is an id, not a card. */
const CARD_ISSUERS: ReadonlyArray<{ prefix: RegExp; min: number; max: number }> = [
  { prefix: /^4/, min: 13, max: 19 }, // Visa
  { prefix: /^(?:5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720)/, min: 16, max: 16 }, // Mastercard
  { prefix: /^3[47]/, min: 15, max: 15 }, // American Express
  { prefix: /^3(?:0[0-5]|[689])/, min: 14, max: 19 }, // Diners Club
  { prefix: /^35(?:2[89]|[3-8]\d)/, min: 16, max: 19 }, // JCB
  { prefix: /^(?:5[06-9]|6\d)/, min: 13, max: 19 }, // Discover, UnionPay, Maestro
];

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return digits.length > 0 && sum % 10 === 0;
}

export function isCardNumber(digits: string): boolean {
  return (
    /^\d{13,19}$/.test(digits) &&
    CARD_ISSUERS.some(
      (issuer) => issuer.prefix.test(digits) && digits.length >= issuer.min && digits.length <= issuer.max,
    ) &&
    luhnValid(digits)
  );
}

/**
 * The longest card number at the start of a candidate. "4111 1111 1111 1111 123" is a card
 * followed by a security code, so shorter prefixes ending at a separator are tried too.
 */
function cardWithin(candidate: string): number | undefined {
  const ends = [candidate.length];
  for (let i = candidate.length - 1; i > 0; i--) if (candidate[i] === ' ' || candidate[i] === '-') ends.push(i);
  return ends.find((end) => isCardNumber(digitsOf(candidate.slice(0, end))));
}

function cardSpans(text: string): Span[] {
  const spans: Span[] = [];
  for (const match of text.matchAll(CARD_CANDIDATE)) {
    const end = cardWithin(match[0]);
    if (end !== undefined) spans.push({ start: match.index, end: match.index + end });
  }
  return spans;
}

// --- IBAN --------------------------------------------------------------------------------

/** IBAN length per country (ISO 13616 registry). */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BR: 29,
  BY: 28,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IQ: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LC: 32,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MR: 27,
  MT: 31,
  MU: 30,
  NL: 18,
  NO: 15,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  SA: 24,
  SC: 31,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  ST: 25,
  SV: 28,
  TL: 23,
  TN: 24,
  TR: 26,
  UA: 29,
  VA: 22,
  VG: 24,
  XK: 20,
};

/** Country code, check digits, then alphanumerics, optionally in groups separated by single spaces. */
const IBAN_CANDIDATE = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}/g;

/** ISO 7064 mod 97-10: the check digits make the rearranged number ≡ 1 (mod 97). */
export function ibanValid(iban: string): boolean {
  const compact = iban.replace(/ /g, '');
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(compact) || IBAN_LENGTHS[compact.slice(0, 2)] !== compact.length) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const value = ch >= 'A' ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder === 1;
}

/**
 * A candidate may run on into the next word ("… 0130 00 EUR"); the country's length says
 * where the IBAN ends. Returns the end offset within the candidate.
 */
function ibanEndWithin(candidate: string): number | undefined {
  const length = IBAN_LENGTHS[candidate.slice(0, 2)];
  if (length === undefined) return undefined;
  let seen = 0;
  for (let i = 0; i < candidate.length; i++) {
    if (candidate[i] !== ' ') seen++;
    if (seen === length) return i + 1;
  }
  return undefined;
}

function ibanSpans(text: string): Span[] {
  const spans: Span[] = [];
  const pattern = new RegExp(IBAN_CANDIDATE);
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(text)) !== null) {
    const end = ibanEndWithin(match[0]);
    const next = end === undefined ? undefined : text[match.index + end];
    if (end !== undefined && (next === undefined || !/[A-Za-z0-9]/.test(next)) && ibanValid(match[0].slice(0, end))) {
      spans.push({ start: match.index, end: match.index + end });
      pattern.lastIndex = match.index + end;
    } else {
      // The candidate may have swallowed the start of a real IBAN: look again just after its start.
      pattern.lastIndex = match.index + 1;
    }
  }
  return spans;
}

// --- AWS access key ids ------------------------------------------------------------------

const AWS_ACCESS_KEY = /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g;

// --- private key blocks ------------------------------------------------------------------

const PEM_BEGIN = /-----BEGIN (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_END = /-----END (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----/g;
/** Base64 body, headers such as `Proc-Type: 4,ENCRYPTED`, and `\n` escapes in JSON text. */
const PEM_BODY = /[A-Za-z0-9+/=\s\\:,-]*/y;

/**
 * BEGIN … END, matched procedurally. A block without its END (cut off by a size limit, a
 * pager or the tool itself) is still a key: it runs to the end of its base64 body. The next
 * END is searched once and reused, so many BEGINs without an END stay linear.
 */
function privateKeySpans(text: string): Span[] {
  const spans: Span[] = [];
  const begin = new RegExp(PEM_BEGIN);
  const end = new RegExp(PEM_END);
  let nextEnd: RegExpExecArray | null | undefined;
  let match: RegExpExecArray | null;
  while ((match = begin.exec(text)) !== null) {
    const bodyStart = match.index + match[0].length;
    if (nextEnd === undefined || (nextEnd !== null && nextEnd.index < bodyStart)) {
      end.lastIndex = bodyStart;
      nextEnd = end.exec(text);
    }
    let blockEnd: number;
    if (nextEnd) {
      blockEnd = nextEnd.index + nextEnd[0].length;
    } else {
      const body = new RegExp(PEM_BODY);
      body.lastIndex = bodyStart;
      blockEnd = bodyStart + (body.exec(text)?.[0].length ?? 0);
    }
    spans.push({ start: match.index, end: blockEnd });
    begin.lastIndex = blockEnd;
  }
  return spans;
}

// --- API keys ----------------------------------------------------------------------------

/** Random keys mix cases and digits; a slug such as `sk-learn-tutorial-for-beginners` does not. */
function looksRandom(value: string): boolean {
  return /\d/.test(value) && /[a-z]/.test(value) && /[A-Z]/.test(value);
}

/** A JWT's first part is base64url JSON with an `alg`: `eyJ` is how `{"` encodes. */
function looksLikeJwt(token: string): boolean {
  const header = token.slice(0, token.indexOf('.'));
  try {
    const base64 = header.replace(/-/g, '+').replace(/_/g, '/');
    const parsed: unknown = JSON.parse(atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4)));
    return typeof parsed === 'object' && parsed !== null && typeof (parsed as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

const API_KEY_PATTERNS: ReadonlyArray<{ pattern: RegExp; accept?: (value: string) => boolean }> = [
  { pattern: /(?<![\w-])sk-ant-[A-Za-z0-9_-]{20,}/g }, // Anthropic
  { pattern: /(?<![\w-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/g, accept: looksRandom }, // OpenAI style
  { pattern: /(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?!\w)/g }, // GitHub
  { pattern: /(?<![\w-])xox[abpr]-[A-Za-z0-9-]{10,}/g }, // Slack
  { pattern: /(?<![\w-])AIza[A-Za-z0-9_-]{35}(?![\w-])/g }, // Google
  { pattern: /(?<![\w-])eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g, accept: looksLikeJwt }, // JWT
];

function apiKeySpans(text: string): Span[] {
  return unionOf(API_KEY_PATTERNS.map(({ pattern, accept }) => spansOf(text, pattern, accept)));
}

// --- the rule ----------------------------------------------------------------------------

const DETECTORS: Record<PiiKind, (text: string) => Span[]> = {
  private_key: privateKeySpans,
  aws_access_key: (text) => spansOf(text, AWS_ACCESS_KEY),
  api_key: apiKeySpans,
  credit_card: cardSpans,
  iban: ibanSpans,
  email: (text) => spansOf(text, EMAIL, plausibleEmail),
  phone: (text) => unionOf(PHONE_PATTERNS.map((pattern) => spansOf(text, pattern, plausiblePhone))),
};

/**
 * When detections overlap (a card's digits also look like a phone number, an IBAN's digits
 * too), the more specific kind wins, so one value is counted and redacted once.
 */
const PRIORITY: readonly PiiKind[] = [
  'private_key',
  'aws_access_key',
  'api_key',
  'credit_card',
  'iban',
  'email',
  'phone',
];

/** Accepted spans, sorted by start, never overlapping. */
class Taken {
  private readonly spans: Span[] = [];

  /** Index of the first span that ends after `position`. */
  private firstEndingAfter(position: number): number {
    let low = 0;
    let high = this.spans.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.spans[mid]!.end <= position) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  overlaps(span: Span): boolean {
    const candidate = this.spans[this.firstEndingAfter(span.start)];
    return candidate !== undefined && candidate.start < span.end;
  }

  add(span: Span): void {
    this.spans.splice(this.firstEndingAfter(span.start), 0, span);
  }
}

/** An allow entry must match the whole value: `^(?:entry)$`. */
function allowListOf(config: PiiRule): (value: string) => boolean {
  const patterns = config.allow.map((source) => new RegExp(`^(?:${source})$`));
  return (value) => patterns.some((pattern) => pattern.test(value));
}

export function detectPii(text: string, _stage: Stage, config: PiiRule): Finding[] {
  const allowed = allowListOf(config);
  const taken = new Taken();
  const findings: Finding[] = [];
  for (const kind of PRIORITY) {
    if (!config.detect.includes(kind)) continue;
    for (const span of DETECTORS[kind](text)) {
      if (taken.overlaps(span) || allowed(text.slice(span.start, span.end))) continue;
      taken.add(span);
      findings.push({ rule: PII_RULE, kind, start: span.start, end: span.end, replacement: piiReplacement(kind) });
    }
  }
  return findings.sort((a, b) => a.start - b.start);
}

/** "redacted 3 PII values (2 email, 1 credit_card)": kinds and counts, never the values. */
export function describePii(findings: readonly Finding[], action: GuardrailAction): string {
  return `${ACTION_VERB[action]} ${plural(findings.length, 'PII value')} (${countByKind(findings)})`;
}
