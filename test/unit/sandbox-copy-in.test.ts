import { describe, expect, it } from 'vitest';
import { SandboxUnavailableError } from '../../core/errors.ts';
import { copyInFiles, valueAt } from '../../core/sandbox/copy-in.ts';

/** copy_in.files: the run's input read by dotted paths, the same on every host (core/sandbox/copy-in.ts). */

const spec = (files: Array<{ path: string; from_input: string }>) => ({ copy_in: { files } });

describe('copy-in files', () => {
  it('writes a string as it is and anything else as JSON', () => {
    const input = { task: 'fix it', issue: { body: 'the sum is wrong', labels: ['bug'] } };
    expect(
      copyInFiles(
        spec([
          { path: 'TASK.md', from_input: 'task' },
          { path: 'issue.json', from_input: 'issue' },
          { path: 'body.txt', from_input: 'issue.body' },
        ]),
        input,
      ),
    ).toEqual([
      { path: 'TASK.md', content: 'fix it' },
      { path: 'issue.json', content: JSON.stringify(input.issue, null, 2) },
      { path: 'body.txt', content: 'the sum is wrong' },
    ]);
  });

  it('refuses the sandbox, naming the path, when the input lacks a value', () => {
    const attempt = () => copyInFiles(spec([{ path: 'TASK.md', from_input: 'issue.title' }]), { issue: { body: 'x' } });
    expect(attempt).toThrow(SandboxUnavailableError);
    expect(attempt).toThrow("copy_in.files: the run's input has no issue.title for TASK.md");
  });

  it("reads only the input's own keys (nothing inherited) and nothing under a non-object", () => {
    expect(valueAt({ a: 'x' }, 'constructor')).toBeUndefined();
    expect(valueAt({ a: 'x' }, 'a.length')).toBeUndefined();
    expect(valueAt(null, 'a')).toBeUndefined();
    expect(valueAt({ a: { b: 0 } }, 'a.b')).toBe(0);
  });
});
