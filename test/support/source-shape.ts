import { readFileSync } from 'node:fs';
import { visitorKeys } from 'oxc-parser';
import { parse } from './source-graph.ts';

/**
 * How long the functions of a source file are, for test/unit/structure.test.ts.
 *
 * A function's length counts the lines of its body that hold code: blank lines, comment
 * lines and the inside of multi-line object and array literals (declarative tables:
 * route maps, CDK properties, schemas) are left out. A function nested in another is
 * measured on its own too.
 */

export interface FunctionLength {
  name: string;
  /** 1-based line where the function starts. */
  line: number;
  lines: number;
}

interface Node {
  type: string;
  start: number;
  end: number;
  [key: string]: unknown;
}

const FUNCTION_TYPES = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);
const TABLE_TYPES = new Set(['ObjectExpression', 'ArrayExpression']);

export function functionLengths(file: string, text: string = readFileSync(file, 'utf8')): FunctionLength[] {
  const { program, comments } = parse(file, text);
  const lineOf = lineIndex(text);
  const code = codeLines(text, comments);
  const functions: Array<{ node: Node; name: string }> = [];
  const tables: Node[] = [];
  visit(program as unknown as Node, undefined, (node, parent) => {
    if (FUNCTION_TYPES.has(node.type)) functions.push({ node, name: nameOf(node, parent) });
    else if (TABLE_TYPES.has(node.type) && lineOf(node.end) > lineOf(node.start)) tables.push(node);
  });
  return functions.map(({ node, name }) => {
    const [first, last] = [lineOf(node.start), lineOf(node.end)];
    const counted = new Set<number>();
    for (let line = first; line <= last; line++) if (code.has(line)) counted.add(line);
    for (const table of tables) {
      if (table.start < node.start || table.end > node.end) continue;
      // The literal's first line holds the code that uses it (`const routes = {`); its inside is data.
      for (let line = lineOf(table.start) + 1; line <= lineOf(table.end); line++) counted.delete(line);
    }
    return { name, line: first, lines: counted.size };
  });
}

/** A function's name as a reader would look it up: `f`, `Class.method`, `object.key`, or `(anonymous)`. */
function nameOf(node: Node, parent: Node | undefined): string {
  const id = node.id as Node | null | undefined;
  if (id?.type === 'Identifier') return id.name as string;
  if (!parent) return '(anonymous)';
  switch (parent.type) {
    case 'VariableDeclarator':
      return keyName(parent.id as Node);
    case 'MethodDefinition':
    case 'PropertyDefinition':
    case 'Property':
      return keyName(parent.key as Node);
    case 'AssignmentExpression':
      return keyName(parent.left as Node);
    default:
      return '(anonymous)';
  }
}

function keyName(key: Node): string {
  if (key.type === 'Identifier') return key.name as string;
  if (key.type === 'PrivateIdentifier') return `#${key.name as string}`;
  if (key.type === 'Literal') return String(key.value);
  if (key.type === 'MemberExpression') return `${keyName(key.object as Node)}.${keyName(key.property as Node)}`;
  return '(computed)';
}

function visit(node: Node, parent: Node | undefined, enter: (node: Node, parent: Node | undefined) => void): void {
  enter(node, parent);
  for (const key of visitorKeys[node.type] ?? []) {
    const child = node[key];
    for (const item of Array.isArray(child) ? child : [child]) {
      if (item && typeof item === 'object' && typeof (item as Node).type === 'string') visit(item as Node, node, enter);
    }
  }
}

/** Maps an offset to its 1-based line. oxc reports offsets in UTF-16 code units, as JavaScript strings count. */
function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
  return (offset) => {
    let [low, high] = [0, starts.length - 1];
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      if (starts[mid]! <= offset) low = mid;
      else high = mid - 1;
    }
    return low + 1;
  };
}

/** The lines that hold something other than whitespace and comments. */
function codeLines(text: string, comments: ReadonlyArray<{ start: number; end: number }>): Set<number> {
  const blanked = text.split('');
  for (const { start, end } of comments) {
    for (let i = start; i < end; i++) if (blanked[i] !== '\n') blanked[i] = ' ';
  }
  const lines = new Set<number>();
  blanked
    .join('')
    .split('\n')
    .forEach((line, index) => {
      if (line.trim() !== '') lines.add(index + 1);
    });
  return lines;
}
