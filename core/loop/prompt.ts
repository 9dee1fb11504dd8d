import type { AgentView, DelegateTarget, ToolSpec } from '../definitions/context.ts';
import type { Message } from '../definitions/messages.ts';
import { MEMORY_PROMPT } from '../memory/tool-specs.ts';

/**
 * The system prompt is the run's stable prefix: the same for every call of the run
 * (no run ids or timestamps in it), so providers can cache it.
 */
export function systemPrompt(view: AgentView): string {
  const parts = [
    `You are "${view.subagent ?? view.agent}", an unattended loop run by looprail${view.role === 'checker' ? " as the checker of another agent's work" : ''}. Nobody is watching this run: work within your tools, and finish with a short summary of what you did and what is left.`,
    view.instructions.text,
  ];
  // Only names and descriptions: a skill's body costs tokens only in a run that loads it.
  if (view.skills.length > 0) {
    parts.push(
      `# Skills\n\nThese skills are available. When one fits the task, call ${LOAD_SKILL_TOOL_NAME} with its name to read it (and ${READ_SKILL_FILE_TOOL_NAME} for a file it lists).\n\n` +
        view.skills.map((skill) => `- ${skill.name} (${skill.version}): ${skill.description}`).join('\n'),
    );
  }
  if (view.memory && view.role === 'maker') parts.push(MEMORY_PROMPT);
  if (view.role === 'checker') {
    parts.push(
      `# Reporting your verdict\nWhen you have checked the work, call ${VERDICT_TOOL_NAME} exactly once with pass (true or false) and feedback the maker can act on. Your tools are read-only: you cannot fix anything yourself.`,
    );
  }
  return parts.join('\n\n');
}

/** The run's first message: its input, as the task. */
export function taskMessage(input: unknown): Message {
  if (typeof input === 'object' && input !== null && typeof (input as { task?: unknown }).task === 'string') {
    const { task, ...rest } = input as { task: string };
    const extra = Object.keys(rest).length > 0 ? `\n\nInput:\n\`\`\`json\n${inputJson(rest)}\n\`\`\`` : '';
    return { role: 'user', content: [{ type: 'text', text: task + extra }] };
  }
  const body =
    input === undefined || (typeof input === 'object' && input !== null && Object.keys(input).length === 0)
      ? 'This run has no input: start your scheduled work.'
      : `This run's input:\n\`\`\`json\n${inputJson(input)}\n\`\`\``;
  return { role: 'user', content: [{ type: 'text', text: body }] };
}

/** Beyond this, the input is shown compact: indentation grows with depth and could outgrow the message's item. */
const MAX_PRETTY_INPUT_CHARS = 64 * 1024;

/** Indented for the model to read, unless indenting a deep input would make it many times its size. */
function inputJson(value: unknown): string {
  const pretty = JSON.stringify(value, null, 2);
  return pretty.length <= MAX_PRETTY_INPUT_CHARS ? pretty : JSON.stringify(value);
}

/** What the checker is given: the task and the maker's result, never the maker's conversation. */
export function checkerMessage(task: Message, makerResult: string, criteria: string | undefined): Message {
  const taskText = task.content.map((block) => (block.type === 'text' ? block.text : '')).join('\n');
  const text = [
    '# The task the maker was given',
    taskText,
    '# Pass criteria',
    criteria ?? 'The task is done completely and correctly.',
    "# The maker's result",
    makerResult.trim() === '' ? '(the maker gave no final text)' : makerResult,
  ].join('\n\n');
  return { role: 'user', content: [{ type: 'text', text }] };
}

export function verificationFeedback(attempt: number, feedback: string): Message {
  return {
    role: 'user',
    content: [
      {
        type: 'text',
        text: `The reviewer did not accept attempt ${attempt}:\n\n${feedback}\n\nAddress this, then finish again with an updated summary.`,
      },
    ],
  };
}

/** Verification passed and released the tools verify.release held: the maker's turn to call them. */
export function verificationPassed(attempt: number, released: string[]): Message {
  const tools = released.join(', ');
  return {
    role: 'user',
    content: [
      {
        type: 'text',
        text:
          `Verification passed (attempt ${attempt}: every check and the reviewer). You may now call ${tools}. ` +
          'The verified work is frozen: only these, read-only tools and loop memory run now. ' +
          'Give your final answer when you are done.',
      },
    ],
  };
}

export const VERDICT_TOOL_NAME = 'looprail__verdict';
export const LOAD_SKILL_TOOL_NAME = 'looprail__load_skill';
export const READ_SKILL_FILE_TOOL_NAME = 'looprail__read_skill_file';

/** Built-in tools of a run with skills: load one on demand, then read its other files. */
export const SKILL_TOOLS: ToolSpec[] = [
  {
    name: LOAD_SKILL_TOOL_NAME,
    server: 'looprail',
    tool: 'load_skill',
    description:
      "Load one of this run's skills by name: returns its instructions (SKILL.md) and lists its other files.",
    inputSchema: {
      type: 'object',
      properties: { name: { type: 'string', description: 'the skill name, as listed' } },
      required: ['name'],
      additionalProperties: false,
    },
    readOnly: true,
    destructive: false,
    requiresApproval: false,
    builtin: true,
  },
  {
    name: READ_SKILL_FILE_TOOL_NAME,
    server: 'looprail',
    tool: 'read_skill_file',
    description: "Read one file of a skill, by the skill's name and the file's path as load_skill listed it.",
    inputSchema: {
      type: 'object',
      properties: {
        name: { type: 'string', description: 'the skill name' },
        path: { type: 'string', description: 'the file path inside the skill' },
      },
      required: ['name', 'path'],
      additionalProperties: false,
    },
    readOnly: true,
    destructive: false,
    requiresApproval: false,
    builtin: true,
  },
];

export const DELEGATE_TOOL_NAME = 'looprail__delegate';

/** A maker with sub-agents hands them work with this tool; the sub-agent's final answer is its result. */
export function delegateTool(targets: DelegateTarget[]): ToolSpec {
  return {
    name: DELEGATE_TOOL_NAME,
    server: 'looprail',
    tool: 'delegate',
    description: `Hand a self-contained task to a sub-agent, which works on it in a run of its own (its own tools, no access to this conversation) and returns its final answer. Sub-agents: ${targets.map((t) => `${t.name}${t.description ? ` (${t.description})` : ''}`).join('; ')}.`,
    inputSchema: {
      type: 'object',
      properties: {
        agent: { type: 'string', enum: targets.map((t) => t.name), description: 'the sub-agent to delegate to' },
        task: {
          type: 'string',
          description: 'everything the sub-agent needs to know: it does not see this conversation',
        },
      },
      required: ['agent', 'task'],
      additionalProperties: false,
    },
    readOnly: false,
    destructive: false,
    requiresApproval: false,
    builtin: true,
  };
}

/** The checker's one built-in tool: how it reports pass or fail. */
export const VERDICT_TOOL: ToolSpec = {
  name: VERDICT_TOOL_NAME,
  server: 'looprail',
  tool: 'verdict',
  description: "Report whether the maker's work passes the criteria, with feedback the maker can act on.",
  inputSchema: {
    type: 'object',
    properties: {
      pass: { type: 'boolean', description: 'true when the work meets the pass criteria' },
      feedback: { type: 'string', description: 'what is wrong or missing, or why it passes' },
    },
    required: ['pass', 'feedback'],
    additionalProperties: false,
  },
  readOnly: true,
  destructive: false,
  requiresApproval: false,
  builtin: true,
};
