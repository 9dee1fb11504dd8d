import type { ToolFlags } from '../definitions/org.ts';
import type { ToolDescriptor } from '../ports/tools.ts';

export interface EffectiveFlags {
  readOnly: boolean;
  destructive: boolean;
  requiresApproval: boolean;
  /** Where the declaration and the server disagreed, and what was decided. */
  notes: string[];
}

/**
 * The org's declaration and the server's own MCP annotations, combined: a declaration
 * may tighten what the server says, never loosen it silently. Only annotations the server
 * states explicitly count (MCP's defaults would make every unannotated tool destructive).
 */
export function effectiveFlags(
  qualified: string,
  declared: ToolFlags,
  annotations: ToolDescriptor['annotations'],
): EffectiveFlags {
  const notes: string[] = [];
  const overridden = declared.override_annotations !== undefined;
  const serverWrites = annotations?.readOnlyHint === false;
  const serverDestructive = annotations?.destructiveHint === true && annotations.readOnlyHint !== true;

  let readOnly = declared.read_only === true;
  if (readOnly && serverWrites) {
    if (overridden)
      notes.push(
        `${qualified}: declared read_only although the server says it writes (override: ${declared.override_annotations})`,
      );
    else {
      readOnly = false;
      notes.push(
        `${qualified}: declared read_only, but the server says it writes; treated as a write (add override_annotations to trust the declaration)`,
      );
    }
  }

  let destructive = declared.destructive === true;
  if (!destructive && serverDestructive) {
    if (declared.destructive === false && overridden) {
      notes.push(
        `${qualified}: declared not destructive although the server says it is (override: ${declared.override_annotations})`,
      );
    } else {
      destructive = true;
      if (declared.destructive === false)
        notes.push(
          `${qualified}: declared not destructive, but the server says it is; treated as destructive (add override_annotations to trust the declaration)`,
        );
    }
  }
  return {
    readOnly: readOnly && !destructive,
    destructive,
    requiresApproval: declared.requires_approval === true,
    notes,
  };
}
