/**
 * The MCP servers `looprail init` and `looprail new agent` can wire a first agent to: the
 * reference servers the demo org already runs (agents/mcp-servers/), real npm packages that
 * start offline. Each says how it is started and what a first loop does with it, as the
 * scripted turns of a maker that does the work and a read-only checker that verifies it.
 */

export interface ScriptedCall {
  /** The tool as the server names it; the script calls it `server__tool`, as models do. */
  tool: string;
  arguments: Record<string, unknown>;
}

/** What one role does on the server: the calls it makes (after loading those tools), in one turn. */
export interface RolePlan {
  calls: ScriptedCall[];
  /** The role's last words: the maker's answer, or the checker's verdict feedback. */
  text: string;
}

export interface ServerTemplate {
  /** The name the declaration gets (mcp-servers/<name>.yaml) and agents grant. */
  name: string;
  description: string;
  /** The npm package that provides `command` in node_modules/.bin. */
  npmPackage: string;
  command: string;
  /** Arguments, given the path of the server's folder relative to the project (when it has one). */
  args: (folder: string) => string[];
  env: Record<string, string>;
  /** A folder of the org the server works in, created with one file in it: `files` → files/welcome.txt. */
  folder?: { name: string; file: string; text: string };
  /** Tools a checker is granted: read-only ones. */
  checkerTools: string[];
  /** The task and done-criteria a scaffolded agent is given. */
  task: (agent: string) => { instructions: string; checker: string; criteria: string };
  maker: (agent: string) => RolePlan;
  checker: (agent: string) => RolePlan;
  /** One line for the declaration's comment. */
  comment: string;
}

const memory: ServerTemplate = {
  name: 'memory',
  description: "The team's notes: a knowledge graph of entities and observations",
  npmPackage: '@modelcontextprotocol/server-memory',
  command: 'mcp-server-memory',
  args: () => [],
  env: { MEMORY_FILE_PATH: '${LOOPRAIL_STATE_DIR}/memory.jsonl' },
  checkerTools: ['read_graph', 'search_nodes', 'open_nodes'],
  comment: 'The reference memory MCP server, keeping its graph under the runtime state folder (.looprail/).',
  task: (agent) => ({
    instructions: `Record one note in the team's memory: an entity named \`${agent}-note\` (type \`note\`)\nwith one observation saying what this loop is for. Then say, in one sentence, what you recorded.`,
    checker: `Check the note another agent recorded: open \`${agent}-note\` in the team's memory.\nPass it only if it exists and has at least one observation; otherwise say what is missing.`,
    criteria: `The team's memory holds ${agent}-note with at least one observation.`,
  }),
  maker: (agent) => ({
    calls: [
      {
        tool: 'create_entities',
        arguments: {
          entities: [{ name: `${agent}-note`, entityType: 'note', observations: [`${agent} is our first loop.`] }],
        },
      },
    ],
    text: `Recorded ${agent}-note in the team's memory.`,
  }),
  checker: (agent) => ({
    calls: [{ tool: 'open_nodes', arguments: { names: [`${agent}-note`] } }],
    text: `${agent}-note is there, with its observation.`,
  }),
};

const filesystem: ServerTemplate = {
  name: 'filesystem',
  description: 'Files in the org folder files/ (the reference filesystem server, limited to that folder)',
  npmPackage: '@modelcontextprotocol/server-filesystem',
  command: 'mcp-server-filesystem',
  args: (folder) => [folder],
  env: {},
  folder: {
    name: 'files',
    file: 'welcome.txt',
    text: 'Welcome to looprail. Agents granted the filesystem server read and write the files in this folder.\n',
  },
  checkerTools: ['list_directory', 'read_text_file', 'get_file_info'],
  comment: 'The reference filesystem MCP server, allowed only the folder named in args.',
  task: () => ({
    instructions:
      'List the files you are given and read welcome.txt. Then summarise it in one sentence.\nNever write, move or delete a file.',
    checker:
      'Check the summary another agent wrote: read welcome.txt yourself.\nPass it only if the summary says what the file says; otherwise say what is wrong.',
    criteria: 'The summary says what welcome.txt says.',
  }),
  maker: () => ({
    calls: [
      { tool: 'list_directory', arguments: { path: '.' } },
      { tool: 'read_text_file', arguments: { path: 'welcome.txt' } },
    ],
    text: 'welcome.txt welcomes you to looprail and says agents granted the filesystem server work in that folder.',
  }),
  checker: () => ({
    calls: [{ tool: 'read_text_file', arguments: { path: 'welcome.txt' } }],
    text: 'The summary says what welcome.txt says.',
  }),
};

export const SERVER_TEMPLATES: Record<string, ServerTemplate> = { memory, filesystem };
export const DEFAULT_SERVER = 'memory';
