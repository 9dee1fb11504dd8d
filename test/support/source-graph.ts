import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { type ParseResult, parseSync } from 'oxc-parser';

/**
 * The repository's own import graph, read with a real parser (oxc) rather than a regex,
 * for the architecture tests (test/unit/dependency-rule.test.ts, structure.test.ts).
 * See docs/architecture.md, "Layout and dependency rules".
 */

/** Top-level folders that hold the project's programs, in no particular order. */
export const SOURCE_ROOTS = [
  'core',
  'adapters',
  'functions',
  'infra',
  'cli',
  'containers',
  'bench',
  'bin',
  'guardrails',
  'examples',
] as const;

export interface Import {
  /** As written: `../ports/clock.ts`, `node:fs`, `zod`. */
  specifier: string;
  /** `import type …` / `export type … from`: erased before the program runs. */
  typeOnly: boolean;
  /** `import('…')`: bundled, but evaluated only when the code reaches it. */
  deferred?: true;
}

export interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
  deferred?: true;
}

/** Every program file under the given folders (tests and fixtures excluded), as repository-relative paths. */
export function sourceFiles(roots: readonly string[] = SOURCE_ROOTS): string[] {
  return roots.filter((root) => existsSync(root)).flatMap(walk);
}

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'fixtures' ? [] : walk(path);
      return /\.(ts|js|mjs)$/.test(name) && !/\.(test|d)\.ts$/.test(name) ? [path] : [];
    });
}

/** Parses a file; throws on a syntax error, so a check never passes over a file it could not read. */
export function parse(file: string, text: string = readFileSync(file, 'utf8')): ParseResult {
  const result = parseSync(file, text, { sourceType: 'module' });
  const error = result.errors[0];
  if (error) throw new Error(`${file}: ${error.message}`);
  return result;
}

/** Static imports and re-exports, and `import('…')` with a literal specifier. */
export function importsOf(file: string, text: string = readFileSync(file, 'utf8')): Import[] {
  const imports: Import[] = [];
  const { program, module } = parse(file, text);
  for (const statement of program.body) {
    if (statement.type === 'ImportDeclaration') {
      imports.push({ specifier: statement.source.value, typeOnly: statement.importKind === 'type' });
    } else if (
      (statement.type === 'ExportNamedDeclaration' || statement.type === 'ExportAllDeclaration') &&
      statement.source
    ) {
      imports.push({ specifier: statement.source.value, typeOnly: statement.exportKind === 'type' });
    }
  }
  for (const { moduleRequest } of module.dynamicImports) {
    const literal = /^(['"])(.*)\1$/.exec(text.slice(moduleRequest.start, moduleRequest.end));
    if (literal) imports.push({ specifier: literal[2]!, typeOnly: false, deferred: true });
  }
  return imports;
}

/** The repository path a relative specifier names, or undefined for a package or a built-in module. */
export function resolveImport(from: string, specifier: string): string | undefined {
  return specifier.startsWith('.') ? normalize(join(dirname(from), specifier)) : undefined;
}

/** The edges between the project's own files; an import of a file that does not exist is an error. */
export function importGraph(files: readonly string[]): Edge[] {
  return files.flatMap((from) =>
    importsOf(from).flatMap(({ specifier, typeOnly, deferred }) => {
      const to = resolveImport(from, specifier);
      if (to === undefined) return [];
      if (!existsSync(to)) throw new Error(`${from} imports ${specifier}, which does not exist`);
      return [{ from, to, typeOnly, ...(deferred ? { deferred } : {}) }];
    }),
  );
}

export interface Cycle {
  /** Every file of the strongly connected component, sorted. */
  files: string[];
  /** One closed path through it: a → b → … → a. */
  path: string[];
}

/**
 * The import cycles of a graph: each strongly connected component of more than one file
 * (or a file importing itself), with one closed path through it to show.
 * Tarjan's algorithm, iterative so a deep graph cannot overflow the stack.
 */
export function findCycles(edges: readonly Pick<Edge, 'from' | 'to'>[]): Cycle[] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) {
    next.set(from, [...(next.get(from) ?? []), to]);
    if (!next.has(to)) next.set(to, []);
  }
  return stronglyConnected(next)
    .filter((component) => component.length > 1 || next.get(component[0]!)!.includes(component[0]!))
    .map((files) => ({ files, path: closedPath(files, next) }))
    .sort((a, b) => a.files[0]!.localeCompare(b.files[0]!));
}

function stronglyConnected(next: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  for (const root of [...next.keys()].sort()) {
    if (index.has(root)) continue;
    const work: Array<{ node: string; child: number }> = [{ node: root, child: 0 }];
    index.set(root, index.size);
    low.set(root, index.get(root)!);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work.at(-1)!;
      const target = next.get(frame.node)![frame.child++];
      if (target !== undefined) {
        if (!index.has(target)) {
          index.set(target, index.size);
          low.set(target, index.get(target)!);
          stack.push(target);
          onStack.add(target);
          work.push({ node: target, child: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(target)!));
        }
        continue;
      }
      work.pop();
      const parent = work.at(-1);
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        components.push(component.sort());
      }
    }
  }
  return components;
}

/** A shortest closed path from the component's first file back to itself, inside the component. */
function closedPath(component: string[], next: Map<string, string[]>): string[] {
  const members = new Set(component);
  const start = component[0]!;
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const target of next.get(node)!) {
      if (!members.has(target)) continue;
      if (target === start) {
        const path = [start];
        for (let at: string | undefined = node; at !== undefined && at !== start; at = cameFrom.get(at)) {
          path.splice(1, 0, at);
        }
        return [...path, start];
      }
      if (!cameFrom.has(target)) {
        cameFrom.set(target, node);
        queue.push(target);
      }
    }
  }
  return [...component, start];
}
