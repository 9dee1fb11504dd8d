import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * containers/ holds programs shipped as container images (the sandbox agent, the egress
 * proxy). They are bundled on their own, so they may use core/ and adapters/ but nothing
 * of the Lambda handlers (functions/) or the command line (cli/).
 */

const FORBIDDEN = /(^|\/)(functions|cli)\//;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(text: string): string[] {
  const pattern = /(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  return [...text.matchAll(pattern)].map((match) => match[1] ?? match[2]!);
}

describe('containers/ stay apart from functions/ and cli/', () => {
  const files = sourceFiles('containers');

  it('has both programs to check', () => {
    expect(files).toEqual(expect.arrayContaining(['containers/sandbox-agent/main.ts', 'containers/egress-proxy/main.ts']));
  });

  for (const file of files) {
    it(`${file} imports nothing from functions/ or cli/`, () => {
      expect(importsOf(readFileSync(file, 'utf8')).filter((specifier) => FORBIDDEN.test(specifier))).toEqual([]);
    });
  }

  it('catches a violation (the check itself can fail)', () => {
    const sample = "import { jsonLogger } from '../../functions/_shared/logger.ts';\nimport { z } from 'zod';";
    expect(importsOf(sample).filter((specifier) => FORBIDDEN.test(specifier))).toEqual(['../../functions/_shared/logger.ts']);
  });
});
