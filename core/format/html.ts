/**
 * HTML escaped by construction, for every page and mail looprail writes (the console, the
 * approval pages, the approval and notification mail). A value goes into markup through
 * `html`, which escapes it unless it is already `Html` (built by `html` or `raw`), so model
 * output, tool arguments and names are always shown as text, in element content and in
 * quoted attributes alike.
 */

/** Markup that is safe as it is: only `html` and `raw` (for constant markup) make one. */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for element content or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ESCAPES[char]!);
}

/** Constant markup from this codebase; never pass it data. */
export function raw(markup: string): Html {
  return new Html(markup);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false) return '';
  return escapeHtml(String(value));
}

/** A template whose interpolations are escaped (arrays joined, nullish and false left out). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** Pieces of markup (or text, escaped) joined by a separator, such as lines of a page. */
export function joinHtml(parts: readonly unknown[], separator = ''): Html {
  return new Html(parts.map(render).join(separator));
}
