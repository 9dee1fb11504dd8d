/** A problem found in a definition file: where it is and what was expected. */
export interface Problem {
  file: string;
  line: number;
  col: number;
  /** The field, as `agent.harness.max_steps` or `agent.subagents[1].model`; empty for the whole file. */
  path: string;
  message: string;
  severity: 'error' | 'warning';
}

export function formatPath(segments: ReadonlyArray<PropertyKey>): string {
  let text = '';
  for (const segment of segments) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text === '' ? String(segment) : `.${String(segment)}`;
  }
  return text;
}

/** `file:line:col: path: message` — the form editors and CI annotations understand. */
export function formatProblem(problem: Problem): string {
  const where = `${problem.file}:${problem.line}:${problem.col}`;
  const tag = problem.severity === 'warning' ? 'warning: ' : '';
  return problem.path ? `${where}: ${tag}${problem.path}: ${problem.message}` : `${where}: ${tag}${problem.message}`;
}

export function hasErrors(problems: Problem[]): boolean {
  return problems.some((problem) => problem.severity === 'error');
}

/** Suggests the closest known name for a typo (`max_step` → `max_steps`). */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
