import { parseDocument } from 'yaml';

/**
 * Adds lines at the end of models.yaml's `models:` block as a text edit, so the file keeps its
 * comments, spacing and style (as `looprail pin` edits server files). A `models:` written in
 * flow style (`models: {}`) is rewritten through the YAML document instead.
 */
export function addModelLines(source: string, lines: string[]): string {
  const text = source.endsWith('\n') ? source : `${source}\n`;
  const all = text.split('\n');
  const start = all.findIndex((line) => /^models:\s*(#.*)?$/.test(line));
  if (start === -1) return viaDocument(text, lines);
  // The block runs to the next top-level key (or the end), trailing comments included.
  let end = all.findIndex((line, index) => index > start && /^[^\s#]/.test(line));
  if (end === -1) end = all.length - 1;
  while (end > start + 1 && all[end - 1]!.trim() === '') end--;
  const entry = all.slice(start + 1, end).find((line) => /^\s+[^\s#]/.test(line));
  const indent = entry?.match(/^\s+/)?.[0] ?? '  ';
  all.splice(end, 0, ...lines.map((line) => indent + line));
  return all.join('\n');
}

function viaDocument(text: string, lines: string[]): string {
  const document = parseDocument(text);
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const entry = parseDocument(line).toJS() as Record<string, unknown>;
    for (const [name, value] of Object.entries(entry)) {
      const node = document.createNode(value, { flow: true });
      document.setIn(['models', name], node);
    }
  }
  return document.toString();
}
