import { readFile, writeFile } from 'node:fs/promises';
import { isMap, isScalar, parseDocument, type Node, type Pair, type YAMLMap } from 'yaml';

/**
 * Writes tool pins into a server declaration as small text edits, so the reviewed,
 * human-edited file keeps its comments, spacing and style.
 */

interface Edit {
  start: number;
  end: number;
  text: string;
}

function editFor(source: string, pair: Pair, pin: string): Edit | undefined {
  const value = pair.value as Node | null;
  if (isMap(value)) {
    const existing = (value as YAMLMap).items.find((item) => isScalar(item.key) && item.key.value === 'pin');
    if (existing && isScalar(existing.value)) {
      if (existing.value.value === pin) return undefined;
      const [start, end] = existing.value.range!;
      return { start, end, text: pin };
    }
    const [start, end] = value.range!;
    if (value.flow) {
      // `{ read_only: true }` → `{ read_only: true, pin: … }`; `{}` → `{ pin: … }`.
      const close = source.lastIndexOf('}', end);
      const inner = source.slice(start + 1, close);
      if (inner.trim() === '') return { start, end: close + 1, text: `{ pin: ${pin} }` };
      const afterLast = start + 1 + inner.trimEnd().length;
      return { start: afterLast, end: afterLast, text: `, pin: ${pin}` };
    }
    // A block map: a new line at the indentation of its first key.
    const firstKey = value.items[0]!.key as Node;
    const lineStart = source.lastIndexOf('\n', firstKey.range![0]) + 1;
    const indent = source.slice(lineStart, firstKey.range![0]);
    const lastEnd = (value.items.at(-1)!.value as Node | null)?.range?.[1] ?? end;
    return { start: lastEnd, end: lastEnd, text: `\n${indent}pin: ${pin}` };
  }
  // `tool:` or `tool: null`: the flags become a flow map with the pin.
  const key = pair.key as Node;
  const lineEnd = source.indexOf('\n', key.range![1]);
  const end = isScalar(value) ? value.range![1] : lineEnd === -1 ? source.length : lineEnd;
  return { start: key.range![1], end, text: `: { pin: ${pin} }` };
}

export async function writePins(file: string, pins: Record<string, string>): Promise<string[]> {
  const source = await readFile(file, 'utf8');
  const document = parseDocument(source);
  const tools = document.get('tools', true);
  if (!isMap(tools)) throw new Error(`${file}: no tools: mapping to pin`);
  const edits: Array<Edit & { tool: string }> = [];
  for (const pair of (tools as YAMLMap).items) {
    const tool = isScalar(pair.key) ? String(pair.key.value) : undefined;
    const pin = tool !== undefined ? pins[tool] : undefined;
    if (!tool || !pin) continue;
    const edit = editFor(source, pair as Pair, pin);
    if (edit) edits.push({ ...edit, tool });
  }
  if (edits.length === 0) return [];
  let text = source;
  for (const edit of [...edits].sort((a, b) => b.start - a.start))
    text = text.slice(0, edit.start) + edit.text + text.slice(edit.end);
  await writeFile(file, text);
  return edits.map((edit) => edit.tool);
}
