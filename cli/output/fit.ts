/**
 * Lines fitted to the terminal: the width to fit, and cutting and wrapping plain text to
 * it. Widths count characters (code points); colour is added after fitting.
 */

/** Pipes and logs keep lines as wide as before the terminal was measured (the widest trace line). */
export const DEFAULT_WIDTH = 240;
const MIN_WIDTH = 40;

/** The terminal's width when stdout is one; else COLUMNS when set; else DEFAULT_WIDTH. */
export function outputWidth(
  stream: { isTTY?: boolean; columns?: number } = process.stdout,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const columns = stream.isTTY && stream.columns ? stream.columns : Number(env.COLUMNS);
  return Number.isInteger(columns) && columns > 0 ? Math.max(MIN_WIDTH, columns) : DEFAULT_WIDTH;
}

export const widthOf = (text: string) => [...text].length;

/** At most `width` characters; a cut text ends with an ellipsis. */
export function cut(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  return width <= 0 ? '' : `${chars.slice(0, width - 1).join('')}…`;
}

/** Words wrapped to `width`: the first line starts with `first`, the others with `indent`; a word longer than a line is cut. */
export function wrap(text: string, width: number, indent = '', first = ''): string[] {
  const lines: string[] = [];
  let line = '';
  const prefix = () => (lines.length === 0 ? first : indent);
  for (const word of text.split(' ').filter(Boolean)) {
    const candidate = line === '' ? word : `${line} ${word}`;
    if (line === '' || widthOf(prefix() + candidate) <= width) line = candidate;
    else {
      lines.push(cut(prefix() + line, width));
      line = word;
    }
  }
  lines.push(cut(prefix() + line, width));
  return lines;
}
