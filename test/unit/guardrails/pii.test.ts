import { describe, expect, it } from 'vitest';
import { PiiRule, type PiiKind } from '../../../core/definitions/guardrails.ts';
import { detectPii, ibanValid, isCardNumber, luhnValid } from '../../../core/guardrails/pii.ts';
import {
  ANTHROPIC_KEY,
  AWS_KEY,
  GITHUB_PAT,
  GITHUB_TOKEN,
  GOOGLE_KEY,
  JWT,
  OPENAI_KEY,
  PRIVATE_KEY,
  PRIVATE_KEY_HEAD,
  SLACK_TOKEN,
} from './fixtures.ts';

const all = PiiRule.parse({});
const only = (kind: PiiKind, allow: string[] = []) => PiiRule.parse({ detect: [kind], allow });

/** The values found, as text, for readable assertions. */
function found(text: string, config = all): Array<[string, string]> {
  return detectPii(text, 'tool_output', config).map((finding) => [
    finding.kind,
    text.slice(finding.start, finding.end),
  ]);
}

describe('pii: email', () => {
  it('finds addresses in prose, brackets and mailto links', () => {
    expect(found('Write to alice.smith+test@mail.example.co.uk, or <bob@example.org>.')).toEqual([
      ['email', 'alice.smith+test@mail.example.co.uk'],
      ['email', 'bob@example.org'],
    ]);
    expect(found('mailto:ops_team@corp.example.com?subject=hi')).toEqual([['email', 'ops_team@corp.example.com']]);
  });

  it('ignores things that only look a bit like addresses', () => {
    expect(found('npm i @types/node and @scope/pkg@1.2.3, mention @alice, user@localhost, a@b, icon@2x.png')).toEqual(
      [],
    );
  });

  it('leaves values the allow list names, matched whole', () => {
    const config = only('email', ['noreply@example\\.com', '.*@test\\.invalid']);
    expect(found('From noreply@example.com to x@test.invalid and alice@example.com', config)).toEqual([
      ['email', 'alice@example.com'],
    ]);
    // An allow entry does not exempt a longer value that merely contains it.
    expect(found('xnoreply@example.com', config)).toEqual([['email', 'xnoreply@example.com']]);
  });
});

describe('pii: phone numbers', () => {
  it('finds international and common national formats', () => {
    const numbers = [
      '+44 20 7946 0958',
      '+1 (415) 555-2671',
      '+44 (0)20 7946 0958',
      '+49-151-12345678',
      '+14155552671',
      '(415) 555-2671',
      '415-555-2671',
      '415.555.2671',
      '020 7946 0958',
      '07700 900123',
      '01 23 45 67 89',
      '(020) 7946 0958',
    ];
    for (const number of numbers) expect(found(`call ${number} today`), number).toEqual([['phone', number]]);
  });

  it('does not treat versions, dates, times, ids, IPs or bare digit runs as phone numbers', () => {
    const negatives = [
      'version 10.0.19041.1234',
      'v1.2.3 and 2.10.15',
      'on 2024-01-15 10:30:00',
      'due 15/01/2024',
      'on 01-02-2024 10',
      'order ORD-2024-000123456',
      'order #123456789012',
      'ticket 4155552671',
      'host 192.168.100.200',
      'timestamp 1700000000000',
      'uuid 123e4567-e89b-12d3-a456-426614174000',
      'ISBN 978-3-16-148410-0',
      'route 12-345-6789',
    ];
    for (const text of negatives) expect(found(text, only('phone')), text).toEqual([]);
  });
});

describe('pii: payment cards', () => {
  it('finds Luhn-valid numbers with an issuer prefix, grouped or not', () => {
    expect(found('card 4111 1111 1111 1111 exp 12/29')).toEqual([['credit_card', '4111 1111 1111 1111']]);
    expect(found('card 5555-5555-5555-4444')).toEqual([['credit_card', '5555-5555-5555-4444']]);
    expect(found('amex 378282246310005')).toEqual([['credit_card', '378282246310005']]);
  });

  it('does not flag a number that fails the Luhn check', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(found('card 4111 1111 1111 1112')).toEqual([]);
  });

  it('does not flag Luhn-valid numbers no issuer uses, nor longer digit runs', () => {
    expect(luhnValid('1234567812345670')).toBe(true);
    expect(isCardNumber('1234567812345670')).toBe(false);
    expect(found('id 1234567812345670')).toEqual([]);
    expect(found('serial 41111111111111110000000')).toEqual([]);
  });

  it('finds the card when a security code follows it', () => {
    expect(found('4111 1111 1111 1111 123', only('credit_card'))).toEqual([['credit_card', '4111 1111 1111 1111']]);
  });
});

describe('pii: IBAN', () => {
  it('finds valid IBANs, grouped or compact, even with a word after them', () => {
    expect(found('pay DE89 3704 0044 0532 0130 00 EUR 10')).toEqual([['iban', 'DE89 3704 0044 0532 0130 00']]);
    expect(found('GB29NWBK60161331926819.')).toEqual([['iban', 'GB29NWBK60161331926819']]);
    expect(found('FR14 2004 1010 0505 0001 3M02 606')).toEqual([['iban', 'FR14 2004 1010 0505 0001 3M02 606']]);
  });

  it('does not flag an IBAN one digit off, or an unknown country', () => {
    expect(ibanValid('DE89370400440532013000')).toBe(true);
    expect(ibanValid('DE89370400440532013001')).toBe(false);
    expect(found('DE89 3704 0044 0532 0130 01', only('iban'))).toEqual([]);
    expect(found('ZZ89 3704 0044 0532 0130 00', only('iban'))).toEqual([]);
  });
});

describe('pii: credentials', () => {
  it('finds AWS access key ids', () => {
    expect(found(`aws_access_key_id = ${AWS_KEY}`)).toEqual([['aws_access_key', AWS_KEY]]);
    expect(found(`${AWS_KEY}X`, only('aws_access_key'))).toEqual([]);
  });

  it('finds a private key block across lines, and one cut off before its END', () => {
    expect(found(`key:\n${PRIVATE_KEY}\nrest`)).toEqual([['private_key', PRIVATE_KEY]]);
    expect(found(`${PRIVATE_KEY_HEAD}`)).toEqual([['private_key', PRIVATE_KEY_HEAD]]);
    // Inside JSON text the newlines are escapes.
    const json = JSON.stringify({ key: PRIVATE_KEY });
    expect(found(json, only('private_key'))).toEqual([['private_key', JSON.stringify(PRIVATE_KEY).slice(1, -1)]]);
  });

  it('finds each API-key shape', () => {
    for (const key of [ANTHROPIC_KEY, OPENAI_KEY, GITHUB_TOKEN, GITHUB_PAT, SLACK_TOKEN, GOOGLE_KEY, JWT]) {
      expect(found(`token="${key}"`), key.slice(0, 6)).toEqual([['api_key', key]]);
    }
  });

  it('does not flag slugs and dotted words that share a prefix', () => {
    const text =
      'sk-learn-tutorial-for-beginners-part-two; eyJust.kidding.really; xoxb-short; ghp_short; AIza too short';
    expect(found(text)).toEqual([]);
    // Three base64url parts whose header is not JSON are not a JWT.
    expect(found('eyJub3RqC29u.eyJhIjoxfQ.abcdefghijk', only('api_key'))).toEqual([]);
  });
});

describe('pii: configuration', () => {
  it('looks only for the kinds asked for', () => {
    expect(found(`alice@example.com ${AWS_KEY}`, only('aws_access_key'))).toEqual([['aws_access_key', AWS_KEY]]);
  });

  it('counts a value once when kinds overlap, the more specific kind winning', () => {
    // A card number's digits, grouped 4-4-4-4, never also count as a phone number.
    expect(found('4111-1111-1111-1111')).toEqual([['credit_card', '4111-1111-1111-1111']]);
  });

  it('gives each finding a replacement token naming its kind', () => {
    const [finding] = detectPii('mail alice@example.com', 'model_output', all);
    expect(finding).toMatchObject({ rule: 'pii', kind: 'email', replacement: '[redacted:email]' });
  });
});
