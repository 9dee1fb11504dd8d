/**
 * Splits `---\nfront matter\n---\nbody`; files without front matter have none. Text only, no
 * YAML parser: the deployed steps read a skill's body with it.
 */
export function splitFrontMatter(text: string): { frontMatter?: string; body: string; bodyLine: number } {
  const match = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?/.exec(text);
  if (!match) return { body: text, bodyLine: 1 };
  return { frontMatter: match[1], body: text.slice(match[0].length), bodyLine: match[0].split('\n').length };
}
