import { READ_SKILL_FILE_TOOL_NAME } from '../../loop/prompt.ts';
import { inSnapshot, type BuiltinTool } from './builtin.ts';
import { skillCall } from './skill-call.ts';

/** looprail__read_skill_file: one file of a mounted skill, by the path load_skill listed. */
export const readSkillFileTool: BuiltinTool = {
  name: READ_SKILL_FILE_TOOL_NAME,
  offered: inSnapshot(READ_SKILL_FILE_TOOL_NAME),
  call: (deps, state, call) =>
    skillCall(deps, state, call, 'read_skill_file', (record, ref) => {
      const path = typeof call.arguments.path === 'string' ? call.arguments.path : '';
      const file = record.files.find((candidate) => candidate.path === path);
      if (!file) {
        const files = record.files.map((each) => each.path).join(', ');
        return { error: `skill ${ref} has no file "${path}" (it has: ${files})`, detail: `no file "${path}"` };
      }
      return { text: file.content, detail: `file ${String(call.arguments.path)}` };
    }),
};
