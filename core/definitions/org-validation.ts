import type * as z from './zod.ts';
import type { LockFile } from './lock-file.ts';
import { formatPath, type Problem } from './problems.ts';
import { parseYaml, validateWith, type ParsedYaml } from './yaml-source.ts';

/** What validating an org folder reads, and where it records what it finds. */

export interface OrgFile {
  /** Relative to the org root, with `/` separators: decides what the file is. */
  path: string;
  /** As shown in messages (relative to where the user pointed). */
  display: string;
  text: string;
}

/** A YAML file that parsed and matched its schema. */
export interface Loaded<T extends z.core.$ZodType> {
  parsed: ParsedYaml;
  value: z.output<T>;
}

/** The files by path, and every problem found so far. */
export class Validation {
  readonly problems: Problem[] = [];
  /** When the org keeps a lock file, every versioned instructions file must match it. */
  lock?: LockFile;
  private readonly byPath = new Map<string, OrgFile>();

  constructor(files: OrgFile[]) {
    for (const file of files) this.byPath.set(file.path, file);
  }

  file(path: string): OrgFile | undefined {
    return this.byPath.get(path);
  }

  add(problem: Omit<Problem, 'severity'> & { severity?: Problem['severity'] }): void {
    this.problems.push({ severity: 'error', ...problem });
  }

  at(
    parsed: ParsedYaml,
    path: ReadonlyArray<PropertyKey>,
    message: string,
    severity: Problem['severity'] = 'error',
  ): void {
    this.problems.push({ file: parsed.file, ...parsed.locate(path), path: formatPath(path), message, severity });
  }

  /** Parses and validates one YAML file; problems are recorded, undefined on failure. */
  load<T extends z.core.$ZodType>(file: OrgFile, schema: T, expected: string): Loaded<T> | undefined {
    const result = parseYaml({ file: file.display, text: file.text }, expected);
    if (!result.ok) {
      this.problems.push(...result.problems);
      return undefined;
    }
    const validated = validateWith(schema, result.parsed);
    if (!validated.ok) {
      this.problems.push(...validated.problems);
      return undefined;
    }
    return { parsed: result.parsed, value: validated.value };
  }
}
