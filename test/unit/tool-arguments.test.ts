import { describe, expect, it } from 'vitest';
import { INVALID_ARGUMENTS_KEY, REFUSED_ARGUMENTS_KEY } from '../../core/definitions/messages.ts';
import { argumentProblems, compileSchema, draftOf, schemaProblems } from '../../core/policy/tool-arguments.ts';

/**
 * The tool-argument checks (core/policy/tool-arguments.ts): every problem named with its
 * field, in the words models were told when the checks were ajv's, for the dialects MCP
 * servers send (draft-07 and 2020-12).
 */

const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';
const DRAFT_2020 = 'https://json-schema.org/draft/2020-12/schema';

describe('argumentProblems', () => {
  it('accepts arguments that fit', () => {
    const schema = { type: 'object', properties: { a: { type: 'number' } }, required: ['a'] };
    expect(argumentProblems(schema, { a: 1 })).toBeNull();
  });

  it('names each field that does not fit, with what was expected', () => {
    const schema = {
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'number' }, kind: { enum: ['x', 'y'] } },
      required: ['a', 'b'],
      additionalProperties: false,
    };
    expect(argumentProblems(schema, { a: '1', kind: 'z', extra: true })).toBe(
      "arguments must have required property 'b'; arguments/a must be number; " +
        'arguments/kind must be equal to one of the allowed values: "x", "y"; ' +
        "arguments must NOT have additional properties ('extra')",
    );
  });

  it('says the limits: numbers, lengths, patterns, items, unions', () => {
    const schema = {
      type: 'object',
      properties: {
        n: { type: 'integer', minimum: 2, maximum: 9 },
        s: { type: 'string', maxLength: 3, pattern: '^a' },
        list: { type: 'array', minItems: 2, uniqueItems: true },
        either: { type: ['string', 'null'] },
        one: { anyOf: [{ type: 'string' }, { type: 'number' }] },
      },
    };
    expect(argumentProblems(schema, { n: 1.5, s: 'bcde', list: [1], either: 1, one: true })).toBe(
      [
        'arguments/n must be integer',
        'arguments/n must be >= 2',
        'arguments/s must NOT have more than 3 characters',
        'arguments/s must match pattern "^a"',
        'arguments/list must NOT have fewer than 2 items',
        'arguments/either must be string,null',
        'arguments/one must match a schema in anyOf',
        'arguments/one must be string',
        'arguments/one must be number',
      ].join('; '),
    );
  });

  it('follows $ref into definitions (draft-07) and $defs (2020-12)', () => {
    const draft07 = {
      $schema: DRAFT_07,
      type: 'object',
      properties: { path: { $ref: '#/definitions/path' } },
      definitions: { path: { type: 'string', minLength: 1 } },
    };
    expect(argumentProblems(draft07, { path: '' })).toBe('arguments/path must NOT have fewer than 1 characters');
    const draft2020 = {
      ...draft07,
      $schema: DRAFT_2020,
      properties: { path: { $ref: '#/$defs/path' } },
      $defs: draft07.definitions,
    };
    expect(argumentProblems(draft2020, { path: 3 })).toBe('arguments/path must be string');
  });

  it('reads tuples in either dialect: draft-07 items + additionalItems, 2020-12 prefixItems + items', () => {
    const draft07 = {
      $schema: DRAFT_07,
      type: 'object',
      properties: { pair: { type: 'array', items: [{ type: 'string' }, { type: 'number' }], additionalItems: false } },
    };
    expect(argumentProblems(draft07, { pair: ['a', 'b', 'c'] })).toBe(
      'arguments/pair/1 must be number; arguments/pair must NOT have more than 2 items',
    );
    const draft2020 = {
      $schema: DRAFT_2020,
      type: 'object',
      properties: { pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false } },
    };
    expect(argumentProblems(draft2020, { pair: ['a', 'b', 'c'] })).toBe(
      'arguments/pair/1 must be number; arguments/pair must NOT have more than 2 items',
    );
  });

  it('prints a field whose name holds a slash or a non-ASCII letter as a JSON pointer', () => {
    const schema = { type: 'object', properties: { 'a/b': { type: 'string' }, é: { type: 'string' } } };
    expect(argumentProblems(schema, { 'a/b': 1, é: 2 })).toBe(
      'arguments/a~1b must be string; arguments/é must be string',
    );
  });

  it('leaves formats to the server', () => {
    const schema = { type: 'object', properties: { at: { type: 'string', format: 'date-time' } } };
    expect(argumentProblems(schema, { at: 'tomorrow' })).toBeNull();
    expect(argumentProblems(schema, { at: 5 })).toBe('arguments/at must be string');
  });

  it('does not block on a schema it cannot use (the server enforces its own)', () => {
    const schema = { type: 'object', properties: { a: { $ref: '#/definitions/missing' } } };
    expect(argumentProblems(schema, { a: 1 })).toBeNull();
    expect(() => compileSchema(schema)({ a: 1 }, 'arguments')).toThrow(/Unresolved \$ref "#\/definitions\/missing"/);
  });

  it('reports arguments that were not JSON, or were refused, before any schema', () => {
    expect(argumentProblems({}, { [INVALID_ARGUMENTS_KEY]: '{"a":' })).toBe(
      'the arguments were not a JSON object: {"a":',
    );
    expect(argumentProblems({}, { [REFUSED_ARGUMENTS_KEY]: 'too large' })).toBe('too large');
  });
});

describe('schemaProblems', () => {
  it("names the value as the caller does (a run's input)", () => {
    const schema = { type: 'object', properties: { repo: { type: 'string' } }, required: ['repo'] };
    expect(schemaProblems(schema, { repo: 3 }, 'input')).toBe('input/repo must be string');
    expect(schemaProblems(schema, {}, 'input')).toBe("input must have required property 'repo'");
  });
});

describe('draftOf', () => {
  it('reads the dialect from $schema, 2020-12 when none is named', () => {
    expect(draftOf({ $schema: DRAFT_07 })).toBe('7');
    expect(draftOf({ $schema: 'http://json-schema.org/draft-04/schema#' })).toBe('4');
    expect(draftOf({ $schema: 'https://json-schema.org/draft/2019-09/schema' })).toBe('2019-09');
    expect(draftOf({ $schema: DRAFT_2020 })).toBe('2020-12');
    expect(draftOf({})).toBe('2020-12');
  });
});
