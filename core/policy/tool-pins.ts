import { canonicalJson, sha256 } from '../definitions/hash.ts';
import type { ToolDescriptor } from '../ports/tools.ts';

/**
 * What a pin covers: everything the model reads about the tool. The `sha256:` prefix keeps
 * it a string in YAML (sixteen hex digits alone can read as a number).
 */
export function toolPin(tool: Pick<ToolDescriptor, 'name' | 'description' | 'inputSchema'>): string {
  return (
    'sha256:' +
    sha256(
      canonicalJson({ name: tool.name, description: tool.description ?? '', inputSchema: tool.inputSchema }),
    ).slice(0, 16)
  );
}
