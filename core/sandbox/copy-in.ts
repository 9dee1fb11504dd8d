import type { SandboxSpec } from '../definitions/sandbox.ts';
import { SandboxUnavailableError } from '../errors.ts';

/**
 * `copy_in.files`: values from the run's input, written into the workspace at start.
 * One reading of the input for every sandbox (bubblewrap locally, the broker on AWS), so a
 * value means the same file wherever the run executes.
 */

/** The value at a dotted path (`issue.body`) of the run's input; undefined when there is none. */
export function valueAt(input: unknown, dotted: string): unknown {
  let current: unknown = input;
  for (const key of dotted.split('.')) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** The files to write: a string as it is, anything else as JSON. A value the input lacks refuses the sandbox. */
export function copyInFiles(
  spec: Pick<SandboxSpec, 'copy_in'>,
  input: unknown,
): Array<{ path: string; content: string }> {
  return spec.copy_in.files.map((file) => {
    const value = valueAt(input, file.from_input);
    if (value === undefined)
      throw new SandboxUnavailableError(`copy_in.files: the run's input has no ${file.from_input} for ${file.path}`);
    return { path: file.path, content: typeof value === 'string' ? value : JSON.stringify(value, null, 2) };
  });
}
