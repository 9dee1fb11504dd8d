/**
 * Regular expressions written by people (deny and allow patterns, PII allow entries) but
 * run against text an attacker may control: tool output, fetched pages, webhook payloads.
 * They are checked once, when the policy is validated, and compiled the same way at run time.
 */

/** Compiles a policy pattern for scanning. Same syntax as validation: no `u` flag. */
export function compileUserPattern(source: string, ignoreCase = false): RegExp {
  return new RegExp(source, ignoreCase ? 'gi' : 'g');
}

/** Why a pattern cannot be used, or undefined when it can. The message names the pattern. */
export function patternProblem(source: string, options: { mayMatchEmpty: boolean }): string | undefined {
  let compiled: RegExp;
  try {
    compiled = new RegExp(source);
  } catch (error) {
    // V8 says "Invalid regular expression: /(/: Unterminated group"; keep the reason only.
    const reason = error instanceof Error ? (/: ([^:]+)$/.exec(error.message)?.[1] ?? error.message) : String(error);
    return `invalid regular expression ${JSON.stringify(source)}: ${reason}`;
  }
  if (!options.mayMatchEmpty && compiled.test('')) {
    return `regular expression ${JSON.stringify(source)} matches empty text, so it would match everywhere; expected a pattern that needs at least one character`;
  }
  const risk = backtrackingRisk(source);
  if (risk) return `regular expression ${JSON.stringify(source)} ${risk}`;
  return undefined;
}

interface Quantifier {
  length: number;
  /** `*`, `+`, `{n,}`: no upper bound. */
  unbounded: boolean;
  /** `?`, `*`, `{0,m}`: the atom may be absent. */
  optional: boolean;
}

const BRACES = /\{(\d+)(,(\d*))?\}/y;

function quantifierAt(source: string, index: number): Quantifier | undefined {
  const ch = source[index];
  let quantifier: Quantifier | undefined;
  if (ch === '*') quantifier = { length: 1, unbounded: true, optional: true };
  else if (ch === '+') quantifier = { length: 1, unbounded: true, optional: false };
  else if (ch === '?') quantifier = { length: 1, unbounded: false, optional: true };
  else if (ch === '{') {
    BRACES.lastIndex = index;
    const match = BRACES.exec(source);
    if (match) {
      quantifier = {
        length: match[0].length,
        unbounded: match[2] !== undefined && match[3] === '',
        optional: match[1] === '0',
      };
    }
  }
  // A trailing `?` makes the quantifier lazy; laziness does not change what can backtrack.
  if (quantifier && source[index + quantifier.length] === '?') quantifier.length += 1;
  return quantifier;
}

/** Index just past a character class starting at `index` (which is `[`). */
function skipClass(source: string, index: number): number {
  let i = index + 1;
  if (source[i] === '^') i++;
  if (source[i] === ']') i++;
  while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
  return i + 1;
}

/** Index just past a group's opening: `(`, `(?:`, `(?=`, `(?!`, `(?<=`, `(?<!`, `(?<name>`. */
function skipGroupOpening(source: string, index: number): number {
  if (source[index + 1] !== '?') return index + 1;
  const kind = source[index + 2];
  if (kind === ':' || kind === '=' || kind === '!') return index + 3;
  if (kind === '<') {
    if (source[index + 3] === '=' || source[index + 3] === '!') return index + 4;
    const close = source.indexOf('>', index + 3);
    return close < 0 ? source.length : close + 1;
  }
  return index + 2;
}

interface Frame {
  /** The current alternative so far can end in an unbounded repetition. */
  tail: boolean;
  /** An earlier alternative of this group can. */
  earlierAlternativeTail: boolean;
}

/**
 * Flags the classic catastrophic shape: a group repeated without bound whose body can
 * itself end in an unbounded repetition — `(a+)+`, `(\w+\s?)*`, `(x|y+){2,}`. The engine
 * then has exponentially many ways to split one run of characters between the iterations
 * and tries them all when the rest of the pattern fails. A mandatory atom after the inner
 * repetition (`(\w+\.)+`) separates the iterations, so that is accepted. This is a
 * heuristic, not a proof: it rejects the shapes that cause nearly all real incidents.
 */
export function backtrackingRisk(source: string): string | undefined {
  const frames: Frame[] = [{ tail: false, earlierAlternativeTail: false }];
  let i = 0;
  while (i < source.length) {
    const ch = source[i]!;
    let closedGroupTail: boolean | undefined;
    if (ch === '(') {
      frames.push({ tail: false, earlierAlternativeTail: false });
      i = skipGroupOpening(source, i);
      continue;
    }
    if (ch === '|') {
      const frame = frames[frames.length - 1]!;
      frame.earlierAlternativeTail ||= frame.tail;
      frame.tail = false;
      i++;
      continue;
    }
    if (ch === '^' || ch === '$') {
      i++;
      continue;
    }
    if (ch === ')') {
      const closed = frames.pop();
      if (!closed || frames.length === 0) return undefined; // unbalanced: the compiler reports it
      closedGroupTail = closed.tail || closed.earlierAlternativeTail;
      i++;
    } else if (ch === '\\') {
      i += 2;
    } else if (ch === '[') {
      i = skipClass(source, i);
    } else {
      i++;
    }
    const quantifier = quantifierAt(source, i);
    if (quantifier) i += quantifier.length;
    const frame = frames[frames.length - 1]!;
    if (closedGroupTail && quantifier?.unbounded) {
      return 'repeats a group that itself ends in a repetition (like (a+)+), which can take exponential time on hostile text; rewrite it without the nested repetition';
    }
    if (quantifier?.unbounded) frame.tail = true;
    else if (closedGroupTail !== undefined)
      frame.tail = quantifier?.optional ? frame.tail || closedGroupTail : closedGroupTail;
    else if (!quantifier?.optional) frame.tail = false;
  }
  return undefined;
}
