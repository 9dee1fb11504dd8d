import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from '../support/source-graph.ts';
import { functionLengths } from '../support/source-shape.ts';

/**
 * Size limits that keep one module to one concern (docs/architecture.md, "Layout and
 * dependency rules"): a source file under 500 lines, a function at most 80 lines of code
 * (declarative tables, comments and blank lines not counted: test/support/source-shape.ts).
 */

const MAX_FILE_LINES = 499;
const MAX_FUNCTION_LINES = 80;

const lineCount = (text: string): number => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);

describe('source files stay small', () => {
  const files = sourceFiles();

  it('reads the whole tree', () => {
    expect(files.length).toBeGreaterThan(200);
  });

  it(`every source file is under ${MAX_FILE_LINES + 1} lines`, () => {
    const long = files
      .map((file) => ({ file, lines: lineCount(readFileSync(file, 'utf8')) }))
      .filter(({ lines }) => lines > MAX_FILE_LINES)
      .map(({ file, lines }) => `${file} (${lines} lines)`);
    expect(long).toEqual([]);
  });

  it(`no function is over ${MAX_FUNCTION_LINES} lines`, () => {
    const long = files.flatMap((file) =>
      functionLengths(file)
        .filter(({ lines }) => lines > MAX_FUNCTION_LINES)
        .map(({ name, line, lines }) => `${file}:${line} ${name} (${lines} lines)`),
    );
    expect(long).toEqual([]);
  });
});

describe('function length (the measure itself)', () => {
  const sample = [
    'export function handler(event: Event) {', // 1: counted
    '  // a comment line', // 2
    '', // 3
    '  const routes = {', // 4: counted (the code that holds the table)
    "    list: { method: 'GET' },", // 5: table
    '    create: async () => {', // 6: table, and a function of its own
    '      const made = await make();', // 7
    '      return made;', // 8
    '    },', // 9
    '  };', // 10: table
    '  /* a block', // 11
    '     comment */', // 12
    '  return routes[event.kind];', // 13: counted
    '}', // 14: counted
    'const helper = (x: number) => x + 1;', // 15
    'class Step {', // 16
    '  #run = () => 1;', // 17
    '  go() {', // 18
    "    return '}';", // 19
    '  }', // 20
    '}', // 21
  ].join('\n');

  it('counts the lines of code, not comments, blank lines or the inside of a table', () => {
    expect(functionLengths('sample.ts', sample)).toEqual([
      { name: 'handler', line: 1, lines: 4 },
      { name: 'create', line: 6, lines: 4 },
      { name: 'helper', line: 15, lines: 1 },
      { name: '#run', line: 17, lines: 1 },
      { name: 'go', line: 18, lines: 3 },
    ]);
  });

  it('finds a long function (the check itself can fail)', () => {
    const body = Array.from({ length: 90 }, (_, i) => `  step(${i});`);
    const long = ['export async function big() {', ...body, '}'].join('\n');
    expect(functionLengths('long.ts', long)).toEqual([{ name: 'big', line: 1, lines: 92 }]);
  });
});
