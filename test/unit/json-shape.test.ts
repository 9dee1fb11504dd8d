import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatPath,
  jsonShapeProblem,
  jsonTextDepthProblem,
  type JsonShapeLimits,
  INPUT_LEFT_OUT_KEY,
  parseBoundedJson,
  RUN_INPUT_LIMITS,
  storedInputRefusal,
} from '../../core/limits/json-shape.ts';

const SMALL: JsonShapeLimits = { maxDepth: 3, maxObjectKeys: 2, maxEntries: 5, maxStringChars: 4, maxBytes: 40 };

/** `[[[…]]]` `depth` levels deep, as text (no value that deep is ever built by the test). */
const nestedText = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('jsonShapeProblem', () => {
  it('accepts a value at every limit', () => {
    expect(jsonShapeProblem({ a: [[1]], b: 'abcd' }, SMALL)).toBeUndefined();
    expect(jsonShapeProblem('abcd', SMALL)).toBeUndefined();
    expect(jsonShapeProblem(null, SMALL)).toBeUndefined();
  });

  it('names the limit, the path and the value allowed for each limit', () => {
    expect(jsonShapeProblem({ a: [[[1]]] }, SMALL, 'input')).toEqual({
      limit: 'maxDepth',
      path: 'input.a[0][0]',
      allowed: 3,
      message: 'input, at input.a[0][0] nests deeper than 3 levels (maxDepth 3)',
    });
    expect(jsonShapeProblem({ a: { x: 1, y: 2, z: 3 } }, SMALL, 'input')).toMatchObject({
      limit: 'maxObjectKeys',
      path: 'input.a',
      allowed: 2,
    });
    expect(jsonShapeProblem([1, 2, [3, 4, 5]], SMALL, 'input')).toMatchObject({
      limit: 'maxEntries',
      path: 'input[2]',
      allowed: 5,
    });
    expect(jsonShapeProblem({ 'o k': ['abcde'] }, SMALL, 'input')).toMatchObject({
      limit: 'maxStringChars',
      path: 'input["o k"][0]',
      allowed: 4,
    });
    expect(jsonShapeProblem({ abcdef: 1 }, SMALL, 'input')).toMatchObject({
      limit: 'maxStringChars',
      path: 'input.abcdef',
    });
    // 36 bytes as JSON
    expect(jsonShapeProblem(['abcd', 'abcd', 'abcd', 'abcd', 'abcd'], { ...SMALL, maxBytes: 35 }, 'input')).toEqual({
      limit: 'maxBytes',
      path: 'input',
      allowed: 35,
      message: 'input is more than 35 bytes as JSON (maxBytes 35)',
    });
  });

  it('counts bytes as UTF-8 (a character outside the BMP is four)', () => {
    const limits = { ...RUN_INPUT_LIMITS, maxBytes: 6 };
    expect(jsonShapeProblem('😀', limits)).toBeUndefined(); // "😀" = 2 quotes + 4 bytes
    expect(jsonShapeProblem('é😀', limits)).toMatchObject({ limit: 'maxBytes' });
  });

  it('checks a value 200,000 levels deep without overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    const found = jsonShapeProblem({ x: deep }, RUN_INPUT_LIMITS, 'input');
    expect(found).toMatchObject({ limit: 'maxDepth', allowed: 32 });
    expect(found!.path).toBe(`input.x${'[0]'.repeat(31)}`);
  });
});

describe('jsonTextDepthProblem', () => {
  it('counts brackets outside strings only, escapes included', () => {
    expect(jsonTextDepthProblem('{"a":"[[[[[\\"[[[["}', 2)).toBeUndefined();
    expect(jsonTextDepthProblem(nestedText(2), 2)).toBeUndefined();
    expect(jsonTextDepthProblem(nestedText(3), 2, 'body')).toMatchObject({
      limit: 'maxDepth',
      path: 'body[0][0]',
      allowed: 2,
    });
  });

  it('names the path through keys and array positions', () => {
    const text = '{"a":1,"b c":[0,{"d":[1,2,[[]]]}]}';
    expect(jsonTextDepthProblem(text, 4, 'input')).toMatchObject({ path: 'input["b c"][1].d[2]' });
  });

  it('scans a million levels in one pass, its path shortened', () => {
    const found = jsonTextDepthProblem(nestedText(1_000_000), 32, 'input');
    expect(found).toMatchObject({ limit: 'maxDepth', allowed: 32 });
    expect(found!.message.length).toBeLessThan(300);
  });

  it('agrees with the parsed value check on where the limit is crossed', () => {
    const shapes = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.integer(),
        fc.string({ maxLength: 3 }),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(fc.string({ maxLength: 3 }), tie('value'), { maxKeys: 3 }),
      ),
    })).value;
    fc.assert(
      fc.property(shapes, fc.integer({ min: 1, max: 6 }), (value, maxDepth) => {
        const limits = { ...RUN_INPUT_LIMITS, maxDepth };
        const fromText = jsonTextDepthProblem(JSON.stringify(value), maxDepth, 'v');
        const fromValue = jsonShapeProblem(value, limits, 'v');
        expect(fromText?.path).toBe(fromValue?.limit === 'maxDepth' ? fromValue.path : undefined);
      }),
      { seed: 18, numRuns: 300 },
    );
  });
});

describe('parseBoundedJson', () => {
  it('parses JSON within its limits', () => {
    expect(parseBoundedJson('{"a":[1]}', SMALL)).toEqual({ ok: true, value: { a: [1] } });
  });

  it('refuses text too deep before parsing it, and never quotes the text', () => {
    const result = parseBoundedJson(`{"secret-looking":${nestedText(100_000)}}`, RUN_INPUT_LIMITS, 'input');
    expect(result).toMatchObject({ ok: false, problem: { limit: 'maxDepth', allowed: 32 } });
    expect(parseBoundedJson('{"token":"abc', SMALL, 'input')).toEqual({ ok: false, reason: 'input is not valid JSON' });
  });

  it('refuses a parsed value over another limit', () => {
    expect(parseBoundedJson('{"a":1,"b":2,"c":3}', SMALL)).toMatchObject({
      ok: false,
      problem: { limit: 'maxObjectKeys', path: '$' },
    });
  });
});

describe('formatPath', () => {
  it('keeps short paths whole and elides the middle of long ones', () => {
    expect(formatPath('input', ['a', 0, 'b-c'])).toBe('input.a[0]["b-c"]');
    const long = formatPath(
      'input',
      Array.from({ length: 500 }, () => 0),
    );
    expect(long).toMatch(/^input(\[0\])+…\(\d+ more levels\)…(\[0\])+$/);
    expect(long.length).toBeLessThan(200);
  });
});

describe('storedInputRefusal', () => {
  it('refuses an input left out when read back, or one nested deeper than 32 levels, in plain words', () => {
    expect(storedInputRefusal({ [INPUT_LEFT_OUT_KEY]: 'input nests deeper than 32 levels' })).toBe(
      "the run's input cannot be used, so the run was not started: input nests deeper than 32 levels",
    );
    expect(storedInputRefusal({ a: JSON.parse(nestedText(32)) })).toMatch(/maxDepth 32\)$/);
  });

  it("takes any other input, however large (a sub-agent's input comes from tool-call arguments)", () => {
    expect(storedInputRefusal(undefined)).toBeUndefined();
    expect(storedInputRefusal({ text: 'x'.repeat(100_000), a: JSON.parse(nestedText(31)) })).toBeUndefined();
  });
});
