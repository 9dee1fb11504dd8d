/** The default org's morning triage, as every host must run it: its tool calls in order, each with its status. */
export const DEMO_TOOL_CALLS = [
  ['ci-reports.list_directory', 'ok'],
  ['ci-reports.read_text_file', 'ok'],
  ['ci-reports.read_text_file', 'ok'],
  ['team-memory.search_nodes', 'ok'],
  ['team-memory.create_entities', 'ok'],
  ['team-memory.add_observations', 'ok'],
];
