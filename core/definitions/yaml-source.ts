import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import * as z from './zod.ts';
import { closest, formatPath, type Problem } from './problems.ts';

/**
 * Parses one YAML file and maps zod issues back to line and column, so every problem
 * can be reported as `file:line:col: path: what was expected`.
 */

export interface SourceFile {
  /** As shown in messages: relative to where the user pointed us. */
  file: string;
  text: string;
}

export interface ParsedYaml {
  file: string;
  data: unknown;
  locate(path: ReadonlyArray<PropertyKey>, onKey?: boolean): { line: number; col: number };
}

type ParseResult = { ok: true; parsed: ParsedYaml } | { ok: false; problems: Problem[] };

function looksBinary(text: string): boolean {
  return /[\u0000-\u0008\u000E-\u001F]/.test(text.slice(0, 4096));
}

export function parseYaml(source: SourceFile, expected: string): ParseResult {
  const problem = (message: string, line = 1, col = 1): ParseResult => ({
    ok: false,
    problems: [{ file: source.file, line, col, path: '', message, severity: 'error' }],
  });
  if (looksBinary(source.text)) return problem(`not a YAML file (binary content); expected ${expected}`);
  if (source.text.trim() === '' || source.text.split('\n').every((line) => /^\s*(#.*)?$/.test(line))) {
    return problem(`the file is empty; expected ${expected}`);
  }
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(source.text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (!Array.isArray(documents)) return problem(`the file is empty; expected ${expected}`);
  const syntax: Problem[] = [];
  for (const document of documents) {
    for (const error of document.errors) {
      const position = lineCounter.linePos(error.pos[0]);
      syntax.push({
        file: source.file,
        line: position.line,
        col: position.col,
        path: '',
        message: `not valid YAML: ${error.message.split('\n')[0]}`,
        severity: 'error',
      });
    }
  }
  if (syntax.length > 0) return { ok: false, problems: syntax };
  if (documents.length > 1) {
    const second = documents[1]!;
    const position = lineCounter.linePos(second.range[0]);
    return problem(
      `found ${documents.length} YAML documents; expected one document per file`,
      position.line,
      position.col,
    );
  }
  const document = documents[0]!;
  const data = document.toJS({ maxAliasCount: 100 });
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const kind = data === null ? 'nothing' : Array.isArray(data) ? 'a list' : `a ${typeof data}`;
    return problem(`found ${kind} at the top level; expected ${expected} (is this a YAML file?)`);
  }
  return {
    ok: true,
    parsed: { file: source.file, data, locate: (path, onKey) => locate(document, lineCounter, path, onKey) },
  };
}

/** The position of the deepest node along `path` that exists (the key itself when `onKey`). */
function locate(
  document: Document,
  lineCounter: LineCounter,
  path: ReadonlyArray<PropertyKey>,
  onKey = false,
): { line: number; col: number } {
  let node: Node | null | undefined = document.contents as Node | null;
  let best: Node | null | undefined = node;
  for (const [index, segment] of path.entries()) {
    const last = index === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) break;
      if (last && onKey && isScalar(pair.key)) {
        best = pair.key;
        break;
      }
      node = pair.value as Node | null;
      best = (node ?? pair.key) as Node;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment] as Node | null;
      if (!node) break;
      best = node;
    } else {
      break;
    }
  }
  const offset = best?.range?.[0] ?? 0;
  return lineCounter.linePos(offset);
}

/**
 * Known keys at `path` in a schema, for "did you mean" on a typo. Kinds are told by
 * `_zod.def.type`, not by `instanceof` zod's classes: reaching those through `z.core` would
 * bring all of zod's core, every locale with it, into the bundles that load this module.
 */
function knownKeys(schema: z.core.$ZodType, path: ReadonlyArray<PropertyKey>): string[] {
  let current: z.core.$ZodType | undefined = schema;
  const unwrap = (type: z.core.$ZodType | undefined): z.core.$ZodType | undefined => {
    let t = type;
    for (let i = 0; i < 10 && t; i++) {
      const def = (t as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
      if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault')
        t = def.innerType as z.core.$ZodType;
      else if (def.type === 'pipe') t = def.in as z.core.$ZodType;
      else break;
    }
    return t;
  };
  const kind = (t: z.core.$ZodType | undefined) => t?._zod.def.type;
  const objectIn = (type: z.core.$ZodType | undefined): z.core.$ZodObject | undefined => {
    const t = unwrap(type);
    if (kind(t) === 'object') return t as z.core.$ZodObject;
    if (kind(t) === 'union') {
      for (const option of (t as z.core.$ZodUnion)._zod.def.options) {
        const inner = unwrap(option);
        if (kind(inner) === 'object') return inner as z.core.$ZodObject;
      }
    }
    return undefined;
  };
  for (const segment of path) {
    const t = unwrap(current);
    if (typeof segment === 'number' && kind(t) === 'array') {
      current = (t as z.core.$ZodArray)._zod.def.element;
      continue;
    }
    if (kind(t) === 'record') {
      current = (t as z.core.$ZodRecord)._zod.def.valueType;
      continue;
    }
    const object = objectIn(t);
    current = object?._zod.def.shape[String(segment)];
  }
  return Object.keys(objectIn(current)?._zod.def.shape ?? {});
}

function valueAt(data: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let current = data;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

function describeIssue(issue: z.core.$ZodIssue, missing: boolean): string {
  switch (issue.code) {
    case 'invalid_type': {
      const expected = issue.message.startsWith('Invalid input') ? `expected ${issue.expected}` : issue.message;
      return missing ? `${expected} (this field is required)` : expected;
    }
    case 'invalid_value':
      return `expected one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
    default:
      return issue.message;
  }
}

/**
 * A union's own message ("expected a or b") hides the real problem when the input
 * clearly meant one branch: a string schedule with a bad cron. When exactly one branch
 * accepted the input's shape, report that branch's issues instead.
 */
function expandUnions(issues: z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  return issues.flatMap((issue) => {
    if (issue.code !== 'invalid_union' || !('errors' in issue) || !Array.isArray(issue.errors)) return [issue];
    const shaped = issue.errors.filter(
      (branch) =>
        branch.length > 0 &&
        !branch.some(
          (inner) => inner.path.length === 0 && (inner.code === 'invalid_type' || inner.code === 'invalid_value'),
        ),
    );
    if (shaped.length !== 1) return [issue];
    return expandUnions(shaped[0]!.map((inner) => ({ ...inner, path: [...issue.path, ...inner.path] })));
  });
}

/** Validates parsed data against a schema; every issue becomes a positioned problem. */
export function validateWith<T extends z.core.$ZodType>(
  schema: T,
  parsed: ParsedYaml,
): { ok: true; value: z.output<T> } | { ok: false; problems: Problem[] } {
  const result = z.safeParse(schema, parsed.data);
  if (result.success) return { ok: true, value: result.data };
  const problems: Problem[] = [];
  for (const issue of expandUnions(result.error.issues)) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, issue.path);
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        const suggestion = closest(key, known);
        problems.push({
          file: parsed.file,
          ...parsed.locate(path, true),
          path: formatPath(path),
          message: `unknown key "${key}"${suggestion ? ` (did you mean "${suggestion}"?)` : known.length > 0 ? `; expected one of: ${known.join(', ')}` : ''}`,
          severity: 'error',
        });
      }
      continue;
    }
    problems.push({
      file: parsed.file,
      ...parsed.locate(issue.path),
      path: formatPath(issue.path),
      message: describeIssue(issue, valueAt(parsed.data, issue.path) === undefined),
      severity: 'error',
    });
  }
  return { ok: false, problems };
}
