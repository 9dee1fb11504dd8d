import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * core/ is pure: no AWS SDK, no environment, no I/O, and nothing from the layers
 * around it. DESIGN.md makes this a rule checked in CI; this is the check.
 */

const FORBIDDEN_IMPORTS = [
  /^@aws-sdk\//,
  /^aws-cdk-lib/,
  /^@modelcontextprotocol\//,
  /^node:(fs|fs\/promises|net|http|https|http2|child_process|dgram|dns|tls|worker_threads|cluster|readline|os|process)$/,
  /^(fs|net|http|https|child_process|dgram|dns|tls|os)$/,
  /(^|\/)(adapters|functions|cli|infra)\//,
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(text: string): string[] {
  const specifiers: string[] = [];
  for (const match of text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    specifiers.push(match[1] ?? match[2] ?? match[3]!);
  }
  return specifiers;
}

describe('core/ stays pure', () => {
  const files = sourceFiles('core');

  it('has source files to check', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  for (const file of files) {
    it(`${file} imports no I/O, SDK or outer layer, and reads no environment`, () => {
      const text = readFileSync(file, 'utf8');
      const bad = importsOf(text).filter((specifier) => FORBIDDEN_IMPORTS.some((pattern) => pattern.test(specifier)));
      expect(bad).toEqual([]);
      expect(text).not.toMatch(/process\.env|process\.argv|globalThis\.fetch|\bfetch\(/);
    });
  }

  it('catches a violation (the check itself can fail)', () => {
    const sample = "import { readFile } from 'node:fs/promises';\nimport { x } from '../../adapters/dynamodb/run-store.ts';";
    const bad = importsOf(sample).filter((specifier) => FORBIDDEN_IMPORTS.some((pattern) => pattern.test(specifier)));
    expect(bad).toEqual(['node:fs/promises', '../../adapters/dynamodb/run-store.ts']);
  });
});
