import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The token benchmark's reference task (tokens.ts): the CI logs it triages, the org folder
 * (four MCP servers, the naive, lean and code-mode agents, their prices), the plan the
 * policy plays and the programs code mode runs instead.
 */

/** Sonnet-class list prices, USD per million tokens. */
export const PRICE = { input_per_mtok: 3, output_per_mtok: 15, cached_input_per_mtok: 0.3, cache_write_per_mtok: 3.75 };

/** Deterministic build logs with a few needles in them, 50–90 KB each. */
function logFile(name: string, kb: number, failures: string[]): string {
  const lines: string[] = [];
  let i = 0;
  while (lines.join('\n').length < kb * 1024) {
    i += 1;
    const failure = failures[i % 97 === 0 ? (i / 97) % failures.length : -1];
    lines.push(
      failure
        ? `2026-11-23T02:${String(i % 60).padStart(2, '0')}:00Z ERROR ${name} ${failure}`
        : `2026-11-23T02:${String(i % 60).padStart(2, '0')}:00Z INFO ${name} step ${i} ok: compiled module-${i % 211} in ${(i * 37) % 900} ms, cache ${i % 3 === 0 ? 'miss' : 'hit'}`,
    );
  }
  return lines.join('\n');
}

export async function writeWorkspace(root: string) {
  await mkdir(join(root, 'ci', 'logs'), { recursive: true });
  await mkdir(join(root, 'archive', '2026-10'), { recursive: true });
  await writeFile(
    join(root, 'ci', 'logs', 'build-linux.log'),
    logFile('build-linux', 64, ['checkout test timed out after 30s', 'payment-gateway contract mismatch']),
  );
  await writeFile(
    join(root, 'ci', 'logs', 'build-macos.log'),
    logFile('build-macos', 72, ['codesign failed: certificate expired']),
  );
  await writeFile(
    join(root, 'ci', 'logs', 'e2e.log'),
    logFile('e2e', 88, ['cart total off by one cent', 'flaky: login redirect loop']),
  );
  await writeFile(join(root, 'ci', 'README.md'), '# CI\nNightly builds for linux and macos, then e2e.\n');
  await writeFile(
    join(root, 'archive', '2026-10', 'build-linux.log'),
    logFile('build-linux-old', 56, ['checkout test timed out after 30s']),
  );
  await writeFile(
    join(root, 'archive', '2026-10', 'notes.md'),
    'Last month: checkout timeouts were a slow fixture, fixed by caching the catalog.\n',
  );
}

const NAMES = {
  everything: [
    'echo',
    'get-annotated-message',
    'get-resource-links',
    'get-resource-reference',
    'get-structured-content',
    'get-sum',
    'get-tiny-image',
    'gzip-file-as-resource',
    'toggle-simulated-logging',
    'toggle-subscriber-updates',
    'trigger-long-running-operation',
    'simulate-research-query',
  ],
  memory: [
    'create_entities',
    'create_relations',
    'add_observations',
    'delete_entities',
    'delete_observations',
    'delete_relations',
    'read_graph',
    'search_nodes',
    'open_nodes',
  ],
  files: [
    'read_file',
    'read_text_file',
    'read_media_file',
    'read_multiple_files',
    'write_file',
    'edit_file',
    'create_directory',
    'list_directory',
    'list_directory_with_sizes',
    'directory_tree',
    'move_file',
    'search_files',
    'get_file_info',
    'list_allowed_directories',
  ],
};

export async function writeOrg(org: string, workspace: string) {
  await mkdir(join(org, 'mcp-servers'), { recursive: true });
  await mkdir(join(org, 'scripts'), { recursive: true });
  const tools = (names: string[]) => names.map((name) => `  ${name}: {}`).join('\n');
  await writeFile(
    join(org, 'mcp-servers', 'everything.yaml'),
    `name: everything\ndescription: Reference utilities (echo, arithmetic, sample resources)\ntransport: { type: stdio, command: mcp-server-everything, args: [stdio] }\ntools:\n${tools(NAMES.everything)}\n`,
  );
  await writeFile(
    join(org, 'mcp-servers', 'memory.yaml'),
    `name: memory\ndescription: The team's knowledge graph of failures, owners and follow-ups\ntransport: { type: stdio, command: mcp-server-memory, env: { MEMORY_FILE_PATH: "\${LOOPRAIL_STATE_DIR}/bench-memory.jsonl" } }\ntools:\n${tools(NAMES.memory)}\n`,
  );
  await writeFile(
    join(org, 'mcp-servers', 'ci.yaml'),
    `name: ci\ndescription: Last night's CI logs (files)\ntransport: { type: stdio, command: mcp-server-filesystem, args: ["${join(workspace, 'ci')}"] }\ntools:\n${tools(NAMES.files)}\n`,
  );
  await writeFile(
    join(org, 'mcp-servers', 'archive.yaml'),
    `name: archive\ndescription: Older CI logs and notes (files)\ntransport: { type: stdio, command: mcp-server-filesystem, args: ["${join(workspace, 'archive')}"] }\ntools:\n${tools(NAMES.files)}\n`,
  );
  await writeFile(
    join(org, 'scripts', 'unused.yaml'),
    'description: the benchmark replaces the scripted provider with its policy\nturns:\n  - text: unused\n',
  );
  await writeFile(
    join(org, 'models.yaml'),
    `models:\n  policy: { provider: scripted, script: scripts/unused.yaml, context_window: 200000, price: { input_per_mtok: ${PRICE.input_per_mtok}, output_per_mtok: ${PRICE.output_per_mtok}, cached_input_per_mtok: ${PRICE.cached_input_per_mtok}, cache_write_per_mtok: ${PRICE.cache_write_per_mtok} } }\n`,
  );
  await writeFile(
    join(org, 'instructions.md'),
    "You triage last night's CI for the platform team. Read the logs, find every failure, compare with last month, record each failure and its likely owner in the team memory, and finish with a short report.\n",
  );
  const grants = (defer: boolean) =>
    ['everything', 'memory', 'ci', 'archive']
      .map((server) => `{ name: ${server}, defer_loading: ${defer} }`)
      .join(', ');
  const harness = '{ max_steps: 40, max_tool_calls_per_turn: 8 }';
  await writeFile(
    join(org, 'naive.yaml'),
    `agent:\n  name: naive\n  owner: bench@example.com\n  model: policy\n  instructions: ./instructions.md@v1\n  mcp_servers: [${grants(false)}]\n` +
      `  harness: { max_steps: 40, max_tool_calls_per_turn: 8, context: { offload_result_tokens: 100000000, offload_turn_tokens: 100000000, compact_at: 0.99 } }\n`,
  );
  await writeFile(
    join(org, 'lean.yaml'),
    `agent:\n  name: lean\n  owner: bench@example.com\n  model: policy\n  instructions: ./instructions.md@v1\n  mcp_servers: [${grants(true)}]\n  harness: ${harness}\n`,
  );
  // Lean plus code mode: a sandbox whose run_code scripts make the plan's calls.
  await writeFile(
    join(org, 'code.yaml'),
    `agent:\n  name: code\n  owner: bench@example.com\n  model: policy\n  instructions: ./instructions.md@v1\n  mcp_servers: [sandbox, ${grants(true)}]\n  harness: ${harness}\n` +
      '  sandbox: { network: none, command_timeout_seconds: 120, max_output_bytes: 16384, max_script_tool_calls: 50 }\n',
  );
}

/** The task's plan: the same calls in both modes. `needs` marks a step that uses a fact from an earlier big result. */
interface PlanStep {
  say: string;
  calls: Array<{
    server: 'everything' | 'memory' | 'ci' | 'archive';
    tool: string;
    args: (root: string) => Record<string, unknown>;
  }>;
  /** The policy needs this text from the previous results (found inline, or by read_result grep when offloaded). */
  needs?: string;
}

export const PLAN: PlanStep[] = [
  { say: 'Which folders can I read?', calls: [{ server: 'ci', tool: 'list_allowed_directories', args: () => ({}) }] },
  {
    say: 'Listing the CI logs.',
    calls: [{ server: 'ci', tool: 'list_directory', args: (r) => ({ path: join(r, 'ci', 'logs') }) }],
  },
  {
    say: 'Reading the linux build log.',
    calls: [
      { server: 'ci', tool: 'read_text_file', args: (r) => ({ path: join(r, 'ci', 'logs', 'build-linux.log') }) },
    ],
  },
  {
    say: 'Two failures on linux; reading the macOS log.',
    needs: 'ERROR',
    calls: [
      { server: 'ci', tool: 'read_text_file', args: (r) => ({ path: join(r, 'ci', 'logs', 'build-macos.log') }) },
    ],
  },
  {
    say: 'Recording the build failures.',
    needs: 'ERROR',
    calls: [
      {
        server: 'memory',
        tool: 'create_entities',
        args: () => ({
          entities: [
            {
              name: 'checkout-timeout',
              entityType: 'failure',
              observations: ['linux: checkout test timed out after 30s'],
            },
            { name: 'codesign-expired', entityType: 'failure', observations: ['macos: certificate expired'] },
          ],
        }),
      },
    ],
  },
  {
    say: 'Reading the e2e log.',
    calls: [{ server: 'ci', tool: 'read_text_file', args: (r) => ({ path: join(r, 'ci', 'logs', 'e2e.log') }) }],
  },
  {
    say: 'Recording the e2e failures.',
    needs: 'ERROR',
    calls: [
      {
        server: 'memory',
        tool: 'create_entities',
        args: () => ({
          entities: [
            { name: 'cart-rounding', entityType: 'failure', observations: ['e2e: cart total off by one cent'] },
            { name: 'login-redirect', entityType: 'failure', observations: ['e2e: flaky login redirect loop'] },
          ],
        }),
      },
    ],
  },
  {
    say: 'What did last month look like?',
    calls: [{ server: 'archive', tool: 'directory_tree', args: (r) => ({ path: join(r, 'archive') }) }],
  },
  {
    say: "Reading last month's linux log and notes together.",
    calls: [
      {
        server: 'archive',
        tool: 'read_text_file',
        args: (r) => ({ path: join(r, 'archive', '2026-10', 'build-linux.log') }),
      },
      { server: 'archive', tool: 'read_text_file', args: (r) => ({ path: join(r, 'archive', '2026-10', 'notes.md') }) },
    ],
  },
  {
    say: 'The checkout timeout happened last month too.',
    needs: 'timed out',
    calls: [
      {
        server: 'memory',
        tool: 'add_observations',
        args: () => ({
          observations: [
            {
              entityName: 'checkout-timeout',
              contents: ['also failed in October: slow fixture, fixed by caching the catalog'],
            },
          ],
        }),
      },
    ],
  },
  {
    say: 'Checking sizes of the logs.',
    calls: [{ server: 'ci', tool: 'list_directory_with_sizes', args: (r) => ({ path: join(r, 'ci', 'logs') }) }],
  },
  {
    say: 'Linking failures to owners.',
    calls: [
      {
        server: 'memory',
        tool: 'create_entities',
        args: () => ({
          entities: [
            { name: 'payments-team', entityType: 'team', observations: ['owns checkout and cart'] },
            { name: 'release-team', entityType: 'team', observations: ['owns signing'] },
          ],
        }),
      },
    ],
  },
  {
    say: 'Relating them.',
    calls: [
      {
        server: 'memory',
        tool: 'create_relations',
        args: () => ({
          relations: [
            { from: 'payments-team', to: 'checkout-timeout', relationType: 'owns' },
            { from: 'payments-team', to: 'cart-rounding', relationType: 'owns' },
            { from: 'release-team', to: 'codesign-expired', relationType: 'owns' },
          ],
        }),
      },
    ],
  },
  {
    say: 'Re-reading the linux log for the contract mismatch detail.',
    calls: [
      { server: 'ci', tool: 'read_text_file', args: (r) => ({ path: join(r, 'ci', 'logs', 'build-linux.log') }) },
    ],
  },
  {
    say: 'Recording the contract mismatch.',
    needs: 'contract mismatch',
    calls: [
      {
        server: 'memory',
        tool: 'create_entities',
        args: () => ({
          entities: [
            {
              name: 'gateway-contract',
              entityType: 'failure',
              observations: ['linux: payment-gateway contract mismatch'],
            },
          ],
        }),
      },
    ],
  },
  {
    say: 'How many failures in total?',
    calls: [{ server: 'everything', tool: 'get-sum', args: () => ({ a: 4, b: 1 }) }],
  },
  {
    say: 'Checking the memory for failures.',
    calls: [{ server: 'memory', tool: 'search_nodes', args: () => ({ query: 'failure' }) }],
  },
  {
    say: 'Opening the owners.',
    calls: [{ server: 'memory', tool: 'open_nodes', args: () => ({ names: ['payments-team', 'release-team'] }) }],
  },
  {
    say: 'Reading the whole graph once more before reporting.',
    calls: [{ server: 'memory', tool: 'read_graph', args: () => ({}) }],
  },
  {
    say: 'Posting the summary line.',
    calls: [{ server: 'everything', tool: 'echo', args: () => ({ message: 'nightly triage: 5 failures, 2 owners' }) }],
  },
];

/**
 * Code mode plays the same plan's calls from two programs: the first makes every read
 * (ci, archive) and prints only the ERROR lines; the second, written from those lines as
 * the plan's recording steps are, makes every memory and echo call and prints counts.
 */
export function codeModeScripts(root: string): string[] {
  const calls = (keep: (server: string) => boolean) =>
    JSON.stringify(
      PLAN.flatMap((step) =>
        step.calls
          .filter((call) => keep(call.server))
          .map((call) => ({ name: `${call.server}.${call.tool}`, args: call.args(root) })),
      ),
      null,
      1,
    );
  const read = `const calls = ${calls((server) => server === 'ci' || server === 'archive')};
const errors = new Set();
for (const call of calls) {
  const text = await tools.call(call.name, call.args);
  for (const line of text.split('\\n')) if (/ ERROR /.test(line)) errors.add(line.replace(/^\\S+ ERROR /, ''));
}
console.log(\`\${calls.length} reads; failures:\\n\${[...errors].sort().join('\\n')}\`);
`;
  const record = `const calls = ${calls((server) => server === 'memory' || server === 'everything')};
let made = 0;
for (const call of calls) {
  await tools.call(call.name, call.args);
  made += 1;
}
const graph = await tools.json('memory.read_graph', {});
console.log(\`\${made} calls made; the memory holds \${graph.entities.length} entities and \${graph.relations.length} relations\`);
`;
  return [read, record];
}

export const REPORT =
  'Nightly triage: 5 failures. Payments: checkout timeout (also in October), cart rounding, gateway contract mismatch. Release: expired codesign certificate. Flaky: login redirect loop. All recorded in the team memory with owners.';
