import { createInterface } from 'node:readline';

/**
 * Questions with defaults, asked one after another on a terminal: Enter takes the default, an
 * answer that does not fit says why and asks again. Used only when standard input is a
 * terminal; scripts and tests pass flags instead.
 */

export interface Question {
  key: string;
  label: string;
  /** Taken on Enter; without one, an answer is required. */
  default?: string;
  /** Why an answer does not fit, or undefined when it does. */
  check?: (answer: string) => string | undefined;
}

export interface Terminal {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
}

const MAX_TRIES = 5;

export async function ask(questions: Question[], terminal: Terminal): Promise<Record<string, string>> {
  // Lines are read as they come (typed ahead, or piped) and taken one per question.
  const rl = createInterface({ input: terminal.input, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  const answers: Record<string, string> = {};
  try {
    for (const question of questions) answers[question.key] = await askOne(question, lines, terminal.output);
  } finally {
    rl.close();
  }
  return answers;
}

async function askOne(
  question: Question,
  lines: AsyncIterator<string>,
  output: NodeJS.WritableStream,
): Promise<string> {
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    output.write(`${question.label}${question.default ? ` (${question.default})` : ''}: `);
    const line = await lines.next();
    if (line.done) throw new Error(`no answer to "${question.label}": the input ended; nothing was written`);
    const typed = String(line.value).trim();
    const answer = typed === '' ? (question.default ?? '') : typed;
    const problem = answer === '' ? 'an answer is needed' : question.check?.(answer);
    if (!problem) return answer;
    output.write(`  ${problem}\n`);
  }
  throw new Error(`no answer that fits "${question.label}" after ${MAX_TRIES} tries; nothing was written`);
}

/** A terminal on both ends: someone is there to answer. */
export function interactive(stdin: { isTTY?: boolean }, stdout: { isTTY?: boolean }): boolean {
  return stdin.isTTY === true && stdout.isTTY === true;
}
