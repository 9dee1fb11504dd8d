import type { RunMeta } from '../../../core/definitions/run.ts';
import type { TraceEvent } from '../../../core/definitions/trace.ts';
import type { HandoffNote } from '../../../core/memory/notes.ts';
import { plainDetail } from '../../../core/format/error-names.ts';
import { summaryLine } from '../../../cli/output/trace-lines.ts';
import { APPROVER, type ApprovalRequest, type MorningRun, promptOf, toolCalls } from './mornings.ts';

/**
 * What `npm run flagship` prints: one short line per thing the run did, as its steps
 * commit, and after each morning what it left (the remote's branches, the ledger, the note).
 * Plain sentences for someone who has never seen a trace; `looprail trace` has every column.
 */

const MAX_DETAIL = 110;

/** The first line of a detail, made plain and cut to fit one line. */
function short(detail: string | undefined): string {
  const first = plainDetail(detail ?? '')
    .split('\n')[0]!
    .trim();
  return first.length > MAX_DETAIL ? `${first.slice(0, MAX_DETAIL - 1)}…` : first;
}

const verdict = (event: TraceEvent) => (event.status === 'pass' ? 'PASS' : event.status.toUpperCase());

/** What each of ci-fixer's tools is for, said beside its name (the ledger's own answers say it themselves). */
const WHAT: Record<string, string> = {
  'looprail.ledger_list': 'reads its work ledger',
  'ci-reports.list_directory': "lists last night's CI reports",
  'ci-reports.read_text_file': 'reads a CI report',
  'sandbox.exec': 'in its sandbox, a copy of repos/calc',
  'sandbox.write_file': "edits the sandbox's copy",
  'checkout.write_file': "writes the fix to the team's working copy",
  'git.git_checkout': 'switches the working copy to a branch',
  'git.git_add': 'stages the fix',
  'git.git_commit': 'commits it',
  'git.git_push': 'pushes the branch to the remote',
};

/** What a tool call did, in a few words: a claim and a sandbox command say the most. */
function toolLine(event: TraceEvent): string {
  const what = WHAT[event.name] ? ` — ${WHAT[event.name]}` : '';
  // A command that exits non-zero is an error to the trace; here it is what the model wanted to see.
  if (event.sandbox?.command) return `  · ${event.name}${what}: $ ${event.sandbox.command} → ${short(event.detail)}`;
  const outcome = event.status === 'ok' ? '' : ` ${event.status.toUpperCase()}`;
  const detail = event.name === 'looprail.ledger_claim' ? short(event.detail).split(';')[0] : short(event.detail);
  return `  · ${event.name}${outcome}${what}${detail && detail !== 'all items' ? `: ${detail}` : ''}`;
}

/** One line per trace event worth telling (model calls and the checker's own steps are in `looprail trace`). */
export function eventLine(event: TraceEvent, runRole: RunMeta['role']): string | undefined {
  if (runRole === 'checker') return undefined;
  const plain = short(event.detail).replace(/^approval \S+: /, '');
  switch (event.kind) {
    case 'run_started':
      return `  ▶ run ${event.runId} starts`;
    case 'tool_call':
      return toolLine(event);
    case 'tool_denied':
      return `  ✗ ${event.name} refused: ${plain}`;
    case 'approval_requested':
      return `  ⏸ ${event.name} waits for a human (${plain.split(';')[0]}): nothing leaves until the lead approves`;
    case 'approval_decided':
      return `  ✓ ${event.name}: ${plain.split(' at ')[0]}`;
    case 'verification':
      return event.role === 'checker'
        ? `  ✓ checker ${event.name} (read-only, reads the diff): ${verdict(event)} — ${plain}`
        : `  ✓ check ${event.name} (the project's tests, in the sandbox): ${verdict(event)} — ${plain}`;
    case 'run_failed':
      return `  ✗ the run failed: ${plain}`;
    default:
      return undefined;
  }
}

/** Said when an approval's mail is in the outbox, before it is decided. */
export function approvalLines(request: ApprovalRequest, byHand: boolean, outbox: string): string[] {
  return [
    `  ✉ mail to ${request.mail.to}: "${request.mail.subject}" (${outbox}/${request.mail.file})`,
    `    link: ${request.link}`,
    byHand
      ? '    open the link in a browser on this machine and decide; waiting for the decision (Ctrl-C stops)…'
      : `    approving it automatically, as ${APPROVER} would by opening the link and pressing Approve (run \`npm run flagship -- --approve-by-hand\` to do it yourself)`,
  ];
}

/** Whether the run's prompt carried the note (the first line of its text is enough to tell). */
export function carried(run: MorningRun, note: HandoffNote): boolean {
  return promptOf(run.messages).includes(note.text.split('\n')[0]!);
}

/** Items done before this run that none of its tool calls named: the ledger let the model leave them alone. */
export function leftAlone(run: MorningRun, doneBefore: readonly string[]): string[] {
  const named = JSON.stringify(toolCalls(run.messages).map((call) => call.arguments));
  return doneBefore.filter((id) => !named.includes(id));
}

/** What the morning left: how it ended, the remote's branches, the ledger and the note. */
export function afterLines(
  run: MorningRun,
  facts: { branches: string[]; remote: string; elapsedMs: number },
): string[] {
  const note = run.notes.find((each) => each.runId === run.runId);
  return [
    ...summaryLine(run.meta, facts.elapsedMs, 160)
      .split('\n')
      .map((line) => `  ${line}`),
    `  remote ${facts.remote}: ${facts.branches.join(', ')}`,
    '  work ledger:',
    ...run.ledger.map(
      (item) =>
        `    ${item.state.padEnd(7)} ${item.id}  attempt ${item.attempts}${item.outcome ? ` · ${item.outcome}` : ''}`,
    ),
    note ? `  handoff note for the next run: "${note.text}"` : '  no handoff note was left',
  ];
}
