import { ValidationError } from '../errors.ts';

/**
 * Bounds on the shape of JSON that comes from outside (a run's input, a model's tool-call
 * arguments, a tool's structured result, a script's call): how deep it nests, how many keys
 * an object has, how many entries it has in all, how long a string is and how many bytes it
 * takes. Checked iteratively with an explicit stack, never by recursion: the value being
 * checked is the one that could overflow the stack. Everything downstream that recurses over
 * such a value (structuredClone, JSON.stringify, zod, ajv, the guardrail screens, DynamoDB's
 * marshalling) then only ever sees a bounded one.
 */

export interface JsonShapeLimits {
  /** Containers (objects and arrays) nested inside each other; a bare scalar is depth 0. */
  maxDepth: number;
  /** Keys of one object. */
  maxObjectKeys: number;
  /** Object keys and array items, counted over the whole value. */
  maxEntries: number;
  /** Characters (UTF-16 code units) of one string, keys included. */
  maxStringChars: number;
  /** UTF-8 bytes of the value as compact JSON. */
  maxBytes: number;
}

/** DynamoDB refuses a document nested more than 32 levels: anything accepted can be stored as a map too. */
export const MAX_JSON_DEPTH = 32;

/**
 * A run's input (API, webhook, schedule, event, CLI): it is stored with the run record (as
 * JSON text) and shown to the model in the task message.
 */
export const RUN_INPUT_LIMITS: JsonShapeLimits = {
  maxDepth: MAX_JSON_DEPTH,
  maxObjectKeys: 1_000,
  maxEntries: 10_000,
  maxStringChars: 32 * 1024,
  maxBytes: 32 * 1024,
};

/**
 * A tool call's arguments, as a model answered them or a script asked: they are stored in
 * the assistant's message, one DynamoDB item of at most 400 KB, so 256 KB leaves room for
 * escaping and the rest of the turn.
 */
export const TOOL_ARGUMENT_LIMITS: JsonShapeLimits = {
  maxDepth: MAX_JSON_DEPTH,
  maxObjectKeys: 10_000,
  maxEntries: 100_000,
  maxStringChars: 256 * 1024,
  maxBytes: 256 * 1024,
};

/** A tool's structured result before it becomes text: large results are offloaded, so only the shape is tight. */
export const TOOL_RESULT_LIMITS: JsonShapeLimits = {
  maxDepth: MAX_JSON_DEPTH,
  maxObjectKeys: 100_000,
  maxEntries: 1_000_000,
  maxStringChars: 16 * 1024 * 1024,
  maxBytes: 16 * 1024 * 1024,
};

/** A request body's nesting, checked on the raw text before JSON.parse: the parsed value's own limits come after. */
export const MAX_BODY_DEPTH = 64;

export type ShapeLimitName = keyof JsonShapeLimits;

export interface ShapeProblem {
  /** Which limit was exceeded. */
  limit: ShapeLimitName;
  /** Where, as `input.a[3].b` (shortened when very long). */
  path: string;
  /** The value the limit allows. */
  allowed: number;
  /** One sentence naming the limit, the place and the value allowed. */
  message: string;
}

/** A value over one of its shape limits: a ValidationError, so it is never retried. */
export class JsonShapeError extends ValidationError {
  readonly problem: ShapeProblem;
  constructor(problem: ShapeProblem) {
    super(problem.message);
    this.problem = problem;
  }
}

const WHAT: Record<ShapeLimitName, (allowed: number) => string> = {
  maxDepth: (allowed) => `nests deeper than ${allowed} levels (maxDepth ${allowed})`,
  maxObjectKeys: (allowed) => `has an object with more than ${allowed} keys (maxObjectKeys ${allowed})`,
  maxEntries: (allowed) => `has more than ${allowed} keys and array items in all (maxEntries ${allowed})`,
  maxStringChars: (allowed) => `has a string longer than ${allowed} characters (maxStringChars ${allowed})`,
  maxBytes: (allowed) => `is more than ${allowed} bytes as JSON (maxBytes ${allowed})`,
};

function problem(limit: ShapeLimitName, allowed: number, root: string, segments: Segment[]): ShapeProblem {
  const path = formatPath(root, segments);
  const place = segments.length === 0 ? root : `${root}, at ${path}`;
  return { limit, path, allowed, message: `${place} ${WHAT[limit](allowed)}` };
}

type Segment = string | number;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const MAX_PATH_CHARS = 160;

/** `root.key[3]["odd key"]`, its middle elided when long (a path 100,000 levels deep is not a message). */
export function formatPath(root: string, segments: readonly Segment[]): string {
  const part = (segment: Segment) =>
    typeof segment === 'number'
      ? `[${segment}]`
      : IDENTIFIER.test(segment)
        ? `.${segment}`
        : `[${JSON.stringify(segment.length > 40 ? `${segment.slice(0, 40)}…` : segment)}]`;
  let head = root;
  let index = 0;
  for (; index < segments.length && head.length < MAX_PATH_CHARS / 2; index++) head += part(segments[index]!);
  if (index === segments.length) return head;
  let tail = '';
  let from = segments.length;
  while (from > index && tail.length < MAX_PATH_CHARS / 2) tail = part(segments[--from]!) + tail;
  if (from === index) return head + tail;
  return `${head}…(${from - index} more levels)…${tail}`;
}

interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | undefined;
  key: Segment | undefined;
}

function segmentsOf(frame: Frame | undefined): Segment[] {
  const segments: Segment[] = [];
  for (let at = frame; at?.key !== undefined; at = at.parent) segments.push(at.key);
  return segments.reverse();
}

/**
 * The first limit a parsed value exceeds (depth-first, in document order), or undefined.
 * `root` names the value in the message (`input`, `the arguments of github__create_issue`).
 */
export function jsonShapeProblem(value: unknown, limits: JsonShapeLimits, root = '$'): ShapeProblem | undefined {
  const stack: Frame[] = [{ value, depth: 0, parent: undefined, key: undefined }];
  let entries = 0;
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const current = frame.value;
    if (typeof current === 'string') {
      if (current.length > limits.maxStringChars)
        return problem('maxStringChars', limits.maxStringChars, root, segmentsOf(frame));
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    const depth = frame.depth + 1;
    if (depth > limits.maxDepth) return problem('maxDepth', limits.maxDepth, root, segmentsOf(frame));
    const isArray = Array.isArray(current);
    const keys = isArray ? undefined : Object.keys(current);
    const count = isArray ? current.length : keys!.length;
    if (keys && count > limits.maxObjectKeys)
      return problem('maxObjectKeys', limits.maxObjectKeys, root, segmentsOf(frame));
    entries += count;
    if (entries > limits.maxEntries) return problem('maxEntries', limits.maxEntries, root, segmentsOf(frame));
    // Pushed in reverse, so children are visited in document order.
    for (let i = count - 1; i >= 0; i--) {
      const key: Segment = isArray ? i : keys![i]!;
      if (typeof key === 'string' && key.length > limits.maxStringChars)
        return problem('maxStringChars', limits.maxStringChars, root, [...segmentsOf(frame), key]);
      const child = (current as Record<Segment, unknown>)[key];
      stack.push({ value: child, depth, parent: frame, key });
    }
  }
  // Only now is the value known to be shallow enough for JSON.stringify to be safe.
  const bytes = utf8Bytes(JSON.stringify(value) ?? 'null');
  if (bytes > limits.maxBytes) return problem('maxBytes', limits.maxBytes, root, []);
  return undefined;
}

/** Throws JsonShapeError for a value over its limits. */
export function assertJsonShape(value: unknown, limits: JsonShapeLimits, root = '$'): void {
  const found = jsonShapeProblem(value, limits, root);
  if (found) throw new JsonShapeError(found);
}

function utf8Bytes(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) bytes += code >= 0x800 && !(code >= 0xd800 && code <= 0xdfff) ? 2 : 1;
  }
  return bytes;
}

/** An open container while the raw text is scanned: its kind, its current item and (objects) the last key read. */
interface OpenContainer {
  array: boolean;
  index: number;
  keyStart: number;
  keyEnd: number;
  expectingKey: boolean;
}

/**
 * How deep raw JSON text nests, checked before JSON.parse builds anything: one linear scan
 * counting `[` and `{` outside strings. Text that is not JSON is left to JSON.parse to refuse.
 */
export function jsonTextDepthProblem(text: string, maxDepth: number, root = '$'): ShapeProblem | undefined {
  const open: OpenContainer[] = [];
  let inString = false;
  let stringStart = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c)
        i++; // a backslash: the next character is escaped
      else if (char === 0x22) {
        inString = false;
        const top = open.at(-1);
        if (top && !top.array && top.expectingKey) {
          top.keyStart = stringStart;
          top.keyEnd = i + 1;
          top.expectingKey = false;
        }
      }
      continue;
    }
    if (char === 0x22) {
      inString = true;
      stringStart = i;
    } else if (char === 0x5b || char === 0x7b) {
      if (open.length >= maxDepth) return problem('maxDepth', maxDepth, root, rawSegments(text, open));
      open.push({ array: char === 0x5b, index: 0, keyStart: -1, keyEnd: -1, expectingKey: char === 0x7b });
    } else if (char === 0x5d || char === 0x7d) {
      open.pop();
    } else if (char === 0x2c) {
      const top = open.at(-1);
      if (top?.array) top.index++;
      else if (top) top.expectingKey = true;
    }
  }
  return undefined;
}

function rawSegments(text: string, open: readonly OpenContainer[]): Segment[] {
  return open.map((container) => {
    if (container.array) return container.index;
    const raw = text.slice(container.keyStart, container.keyEnd);
    try {
      return String(JSON.parse(raw));
    } catch {
      return raw;
    }
  });
}

/**
 * A run's input stored before inputs were limited, and too deep to read back safely, is read
 * as `{ [INPUT_LEFT_OUT_KEY]: why }` (adapters/dynamodb): the run can still be shown,
 * cancelled and ended, and StartRun ends it (`error`) instead of starting it.
 */
export const INPUT_LEFT_OUT_KEY = 'looprail:input_left_out';

/** Why a recorded run's input cannot start it, in plain words; undefined when it can. */
export function storedInputRefusal(input: unknown): string | undefined {
  const leftOut =
    input !== null && typeof input === 'object' && Object.hasOwn(input, INPUT_LEFT_OUT_KEY)
      ? String((input as Record<string, unknown>)[INPUT_LEFT_OUT_KEY])
      : undefined;
  // Only the depth: a sub-agent's input may be larger than a trigger's (it comes from tool-call arguments).
  const deep = leftOut ?? jsonShapeProblem(input ?? null, { ...UNBOUNDED, maxDepth: MAX_JSON_DEPTH }, 'input')?.message;
  return deep && `the run's input cannot be used, so the run was not started: ${deep}`;
}

const UNBOUNDED: JsonShapeLimits = {
  maxDepth: Number.POSITIVE_INFINITY,
  maxObjectKeys: Number.POSITIVE_INFINITY,
  maxEntries: Number.POSITIVE_INFINITY,
  maxStringChars: Number.POSITIVE_INFINITY,
  maxBytes: Number.POSITIVE_INFINITY,
};

export type BoundedParse = { ok: true; value: unknown } | { ok: false; problem?: ShapeProblem; reason: string };

/**
 * JSON.parse behind the limits: the raw text's depth first (before anything is built),
 * then the parsed value's shape. The reason never quotes the text (it may hold secrets).
 */
export function parseBoundedJson(text: string, limits: JsonShapeLimits, root = '$'): BoundedParse {
  const deep = jsonTextDepthProblem(text, limits.maxDepth, root);
  if (deep) return { ok: false, problem: deep, reason: deep.message };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: `${root} is not valid JSON` };
  }
  const found = jsonShapeProblem(value, limits, root);
  return found ? { ok: false, problem: found, reason: found.message } : { ok: true, value };
}
