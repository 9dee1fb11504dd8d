import { LOAD_SKILL_TOOL_NAME, READ_SKILL_FILE_TOOL_NAME } from '../../loop/prompt.ts';
import { SKILL_ENTRY, skillBody } from '../../skills/bundle.ts';
import { inSnapshot, type BuiltinTool } from './builtin.ts';
import { skillCall } from './skill-call.ts';

/** looprail__load_skill: a mounted skill's instructions (SKILL.md) and its other files' paths; recorded on the run. */
export const loadSkillTool: BuiltinTool = {
  name: LOAD_SKILL_TOOL_NAME,
  offered: inSnapshot(LOAD_SKILL_TOOL_NAME),
  call: (deps, state, call) =>
    skillCall(deps, state, call, 'load_skill', (record, ref) => {
      const others = record.files.filter((file) => file.path !== SKILL_ENTRY).map((file) => file.path);
      const heading = `## Files in this skill (read with ${READ_SKILL_FILE_TOOL_NAME})`;
      const listed = others.length > 0 ? `\n\n${heading}\n${others.map((path) => `- ${path}`).join('\n')}` : '';
      return { text: `# Skill ${ref}\n\n${skillBody(record)}${listed}`, detail: `sha256:${record.sha256}` };
    }),
};
