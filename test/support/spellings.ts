/**
 * Every other spelling of an encoded value that a lenient decoder reads as the same bytes:
 * what a verifier must refuse so that a signature (or cursor) has exactly one spelling.
 */

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * For canonical base64url text: the last character with each other value of its unused low
 * bits, padding, the `+` `/` alphabet, and standard base64 of the same bytes. Each one
 * decodes (with Buffer.from(…, 'base64url')) to the same bytes as the original.
 */
export function otherBase64urlSpellings(canonical: string): string[] {
  const spellings = new Set<string>();
  const unusedBits = (canonical.length * 6) % 8;
  const last = BASE64URL.indexOf(canonical.at(-1)!);
  for (let low = 0; low < 1 << unusedBits; low++) {
    const value = (last & ~((1 << unusedBits) - 1)) | low;
    spellings.add(canonical.slice(0, -1) + BASE64URL[value]);
  }
  const padding = '='.repeat((4 - (canonical.length % 4)) % 4) || '=';
  spellings.add(canonical + padding);
  spellings.add(canonical.replaceAll('-', '+').replaceAll('_', '/'));
  spellings.add(Buffer.from(canonical, 'base64url').toString('base64'));
  spellings.delete(canonical);
  return [...spellings];
}

/** For lower-case hex: all upper case, and each letter alone in upper case. */
export function otherHexSpellings(canonical: string): string[] {
  const spellings = new Set<string>([canonical.toUpperCase()]);
  for (let i = 0; i < canonical.length; i++) {
    if (/[a-f]/.test(canonical[i]!))
      spellings.add(canonical.slice(0, i) + canonical[i]!.toUpperCase() + canonical.slice(i + 1));
  }
  spellings.delete(canonical);
  return [...spellings];
}
