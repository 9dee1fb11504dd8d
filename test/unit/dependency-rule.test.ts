import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Cycle,
  type Edge,
  findCycles,
  importGraph,
  importsOf,
  resolveImport,
  SOURCE_ROOTS,
  sourceFiles,
} from '../support/source-graph.ts';

/**
 * The dependency rules of docs/architecture.md ("Layout and dependency rules"), checked:
 * core/ is pure, each outer layer imports only the layers it builds on, and no import
 * cycle anywhere, type-only imports included.
 */

const FORBIDDEN_IN_CORE = [
  /^@aws-sdk\//,
  /^aws-cdk-lib/,
  /^@modelcontextprotocol\//,
  /^node:(fs|fs\/promises|net|http|https|http2|child_process|dgram|dns|tls|worker_threads|cluster|readline|os|process)$/,
  /^(fs|net|http|https|child_process|dgram|dns|tls|os)$/,
];

const layerOf = (path: string): string => path.split(/[\\/]/)[0]!;

/** Packages and built-ins core/ may not use, and any file of ours outside core/. */
function forbiddenInCore(file: string, text: string): string[] {
  return importsOf(file, text)
    .map(({ specifier }) => specifier)
    .filter((specifier) => {
      const target = resolveImport(file, specifier);
      return target ? layerOf(target) !== 'core' : FORBIDDEN_IN_CORE.some((pattern) => pattern.test(specifier));
    });
}

/**
 * Which top-level folders each one may import (its own always). core/ is the centre;
 * adapters implement its ports; functions/ and cli/ are the two hosts composing them;
 * infra/ deploys them (handlers are named by path, never imported); containers/ are
 * programs shipped as images; scripts/ (npm's own steps) stand alone. examples/ hold orgs
 * and the programs that run them (`npm run flagship`) as the CLI does. bench/ measures
 * everything and may use anything.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  core: [],
  guardrails: ['core'],
  adapters: ['core', 'guardrails'],
  containers: ['core', 'adapters'],
  functions: ['core', 'adapters', 'guardrails'],
  infra: ['core', 'adapters'],
  cli: ['core', 'adapters', 'functions'],
  bin: ['cli'],
  scripts: [],
  examples: ['core', 'adapters', 'functions', 'cli'],
  bench: [...SOURCE_ROOTS, 'test'],
};

/**
 * Single modules a folder may import from a folder it otherwise may not: contracts both
 * sides share. The environment contract holds names and zod schemas only, so the synth
 * pulls in no runtime code.
 */
const SHARED_CONTRACTS: Record<string, readonly string[]> = {
  infra: ['functions/_shared/env-contract.ts'],
};

function layerViolations(edges: readonly Edge[]): string[] {
  return edges
    .filter(({ from, to }) => {
      const [source, target] = [layerOf(from), layerOf(to)];
      if (!(source in MAY_IMPORT) || source === target || MAY_IMPORT[source]!.includes(target)) return false;
      return !SHARED_CONTRACTS[source]?.includes(to.split(sep).join('/'));
    })
    .map(({ from, to, typeOnly }) => `${from} -> ${to}${typeOnly ? ' (type only)' : ''}`);
}

const describeCycle = ({ files, path }: Cycle): string =>
  `${path.join(' -> ')}${files.length + 1 > path.length ? ` (one of the paths among ${files.join(', ')})` : ''}`;

describe('core/ stays pure', () => {
  const files = sourceFiles(['core']);

  it('has source files to check', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  for (const file of files) {
    it(`${file} imports no I/O, SDK or outer layer, and reads no environment`, () => {
      const text = readFileSync(file, 'utf8');
      expect(forbiddenInCore(file, text)).toEqual([]);
      expect(text).not.toMatch(/process\.env|process\.argv|globalThis\.fetch|\bfetch\(/);
    });
  }

  it('catches a violation (the check itself can fail)', () => {
    const sample = [
      "import { readFile } from 'node:fs/promises';",
      "import type { Table } from '../../adapters/dynamodb/table.ts';",
      "import { screen } from '../guardrails/screen.ts';",
      "import 'node:os';",
      "export * from '../../functions/_shared/logger.ts';",
      "const late = await import('node:child_process');",
    ].join('\n');
    expect(forbiddenInCore('core/run/sample.ts', sample)).toEqual([
      'node:fs/promises',
      '../../adapters/dynamodb/table.ts',
      'node:os',
      '../../functions/_shared/logger.ts',
      'node:child_process',
    ]);
  });
});

describe('the layers import only what they build on', () => {
  const edges = importGraph(sourceFiles());

  it('reads the whole tree', () => {
    const layers = new Set(edges.map(({ from }) => layerOf(from)));
    for (const layer of ['core', 'adapters', 'functions', 'infra', 'cli', 'bench', 'bin', 'guardrails']) {
      expect(layers).toContain(layer);
    }
  });

  it('every import between folders follows the rules', () => {
    expect(layerViolations(edges)).toEqual([]);
  });

  it('catches a violation (the check itself can fail)', () => {
    const sample: Edge[] = [
      { from: 'adapters/a.ts', to: 'core/b.ts', typeOnly: false },
      { from: 'adapters/a.ts', to: 'functions/c.ts', typeOnly: true },
      { from: 'infra/d.ts', to: 'cli/e.ts', typeOnly: false },
      { from: 'containers/f.ts', to: 'functions/g.ts', typeOnly: false },
      { from: 'cli/h.ts', to: 'functions/i.ts', typeOnly: false },
      { from: 'functions/j.ts', to: 'test/support/k.ts', typeOnly: false },
      { from: 'infra/l.ts', to: 'functions/_shared/env-contract.ts', typeOnly: false },
      { from: 'infra/m.ts', to: 'functions/_shared/runtime.ts', typeOnly: false },
    ];
    expect(layerViolations(sample)).toEqual([
      'adapters/a.ts -> functions/c.ts (type only)',
      'infra/d.ts -> cli/e.ts',
      'containers/f.ts -> functions/g.ts',
      'functions/j.ts -> test/support/k.ts',
      'infra/m.ts -> functions/_shared/runtime.ts',
    ]);
  });
});

describe('no import cycles', () => {
  // Test support modules are part of the graph: a cycle there is as confusing as anywhere.
  const edges = importGraph(sourceFiles([...SOURCE_ROOTS, 'test']));

  it('between modules that load each other (value imports)', () => {
    expect(findCycles(edges.filter(({ typeOnly }) => !typeOnly)).map(describeCycle)).toEqual([]);
  });

  it('counting type-only imports too', () => {
    expect(findCycles(edges).map(describeCycle)).toEqual([]);
  });

  it('finds a cycle, and only the cycle (the check itself can fail)', () => {
    const sample = [
      { from: 'a', to: 'b' },
      { from: 'b', to: 'c' },
      { from: 'c', to: 'a' },
      { from: 'd', to: 'a' },
      { from: 'c', to: 'e' },
      { from: 'e', to: 'e' },
      { from: 'f', to: 'g' },
      { from: 'f', to: 'h' },
      { from: 'g', to: 'h' },
    ];
    expect(findCycles(sample).map(({ path }) => path)).toEqual([
      ['a', 'b', 'c', 'a'],
      ['e', 'e'],
    ]);
    expect(findCycles(sample.filter(({ to }) => to !== 'a' && to !== 'e'))).toEqual([]);
  });

  it('finds a cycle closed by type-only imports in real files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'looprail-cycle-'));
    writeFileSync(join(dir, 'a.ts'), "import { b } from './b.ts';\nexport const a = b + 1;\n");
    writeFileSync(join(dir, 'b.ts'), "import type { C } from './c.ts';\nexport const b: C = 1;\n");
    writeFileSync(join(dir, 'c.ts'), "export type { A } from './a.ts';\nexport type C = number;\n");
    const graph = importGraph(['a.ts', 'b.ts', 'c.ts'].map((name) => join(dir, name)));
    expect(findCycles(graph).map(({ path }) => path.map((file) => file.slice(dir.length + 1)))).toEqual([
      ['a.ts', 'b.ts', 'c.ts', 'a.ts'],
    ]);
    expect(findCycles(graph.filter(({ typeOnly }) => !typeOnly))).toEqual([]);
  });
});
