import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { linkIn, waitForMail, type OutboxMail } from '../../../adapters/mail/outbox-reader.ts';
import { startHttpServer } from '../../../cli/http-server.ts';
import { startLocalHost, type LocalHost } from '../../../cli/local/host.ts';
import type { Message } from '../../../core/definitions/messages.ts';
import type { RunMeta } from '../../../core/definitions/run.ts';
import type { TraceEvent } from '../../../core/definitions/trace.ts';
import type { LedgerItem } from '../../../core/memory/ledger.ts';
import type { HandoffNote } from '../../../core/memory/notes.ts';
import { ledgerNow } from '../../../core/memory/operations.ts';
import { runIdFor } from '../../../core/run/ids.ts';
import { createApi } from '../../../functions/http/api/index.ts';

/**
 * The flagship loop's mechanics, one module for `npm run flagship` (./main.ts) and
 * test/e2e/flagship-loop.test.ts, so the test runs what the command runs: the team's Git
 * remote and working copy in the state folder, a morning on the local host with the HTTP
 * server its approval mails link to, a run taken to its end through every approval it
 * pauses for (wherever in the run that comes), the link followed as the lead would, and
 * the night between the mornings.
 */

export const AGENT = 'ci-fixer';
/** The org folder (examples/ci-fixer) and the project it belongs to, wherever this is run from. */
export const ORG_DIR = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
export const PROJECT_ROOT = fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/$/, '');
export const APPROVER = 'lead@example.com';
/** Last night's two CI failures (ci-reports/): the first morning fixes `sum`, the second `day`. */
export const ITEMS = { sum: 'calc-sum-2026-12-05', day: 'calc-day-2026-12-05' } as const;
export const branchOf = (item: string) => `fix/${item}`;

export const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
export const remoteDir = (stateDir: string) => join(stateDir, 'ci-fixer', 'remote.git');
export const checkoutDir = (stateDir: string) => join(stateDir, 'ci-fixer', 'calc');
export const outboxDir = (stateDir: string) => join(stateDir, 'outbox');
/** The remote's branches, sorted. */
export const remoteBranches = (stateDir: string) =>
  git(remoteDir(stateDir), 'branch', '--format=%(refname:short)').split('\n').filter(Boolean).sort();

/** The team's Git remote (bare) and its working copy, where the org's `git` and `checkout` servers point (`ci-fixer/` in the state folder). */
export async function prepareRemote(stateDir: string): Promise<void> {
  const base = join(stateDir, 'ci-fixer');
  await mkdir(base, { recursive: true });
  git(base, 'init', '--quiet', '--bare', '--initial-branch=main', 'remote.git');
  git(base, 'clone', '--quiet', 'remote.git', 'calc');
  const calc = checkoutDir(stateDir);
  await cp(join(ORG_DIR, 'repos', 'calc'), calc, { recursive: true });
  git(calc, 'config', 'user.name', 'ci-fixer');
  git(calc, 'config', 'user.email', 'ci-fixer@example.com');
  git(calc, 'checkout', '--quiet', '-b', 'main');
  git(calc, 'add', '.');
  git(calc, 'commit', '--quiet', '-m', 'calc with two failing tests');
  git(calc, 'push', '--quiet', 'origin', 'main');
}

/**
 * Between the mornings: the team merges the first morning's branch into main, so the next
 * sandbox starts from main with it (a copy of the org whose repos/calc has the fix); and
 * the scripted model of that copy plays the second morning's script.
 */
export async function overnight(stateDir: string, dayTwoOrg: string): Promise<void> {
  const calc = checkoutDir(stateDir);
  git(calc, 'checkout', '--quiet', 'main');
  git(calc, 'merge', '--quiet', '--ff-only', branchOf(ITEMS.sum));
  git(calc, 'push', '--quiet', 'origin', 'main');
  await cp(ORG_DIR, dayTwoOrg, { recursive: true });
  await cp(join(calc, 'src', 'sum.js'), join(dayTwoOrg, 'repos', 'calc', 'src', 'sum.js'));
  const models = await readFile(join(ORG_DIR, 'models.yaml'), 'utf8');
  if (!models.includes('scripts/day-1.yaml'))
    throw new Error(
      `${join(ORG_DIR, 'models.yaml')} no longer names scripts/day-1.yaml: the second morning cannot switch to scripts/day-2.yaml`,
    );
  await writeFile(join(dayTwoOrg, 'models.yaml'), models.replace('scripts/day-1.yaml', 'scripts/day-2.yaml'));
}

export interface MorningOptions {
  orgDir: string;
  stateDir: string;
  /** A running DynamoDB (the tests' shared one, or the command's): otherwise the host opens the state folder's own. */
  dynamodbEndpoint?: string;
  tableName?: string;
  sandboxRoot?: string;
  /** Told of every trace event as its step commits, checkers' included (the command tells the story from them). */
  onEvent?: (event: TraceEvent, role: RunMeta['role']) => void;
}

/** A morning's host, with the HTTP server on 127.0.0.1 the mailed approval link points at. */
export interface Morning {
  host: LocalHost;
  stateDir: string;
  url: string;
  close(): Promise<void>;
}

export async function openMorning(options: MorningOptions): Promise<Morning> {
  const { onEvent, ...hostOptions } = options;
  const host = await startLocalHost({
    projectRoot: PROJECT_ROOT,
    retryIntervalMs: 0,
    ...hostOptions,
    onCommit:
      onEvent &&
      ((_runId, commit) => {
        for (const event of commit.trace ?? []) onEvent(event, commit.meta.role);
      }),
  });
  try {
    const api = createApi({ ...host.deps, executions: host.executions, secrets: host.secrets });
    const server = await startHttpServer({ app: api.handle, token: randomUUID(), user: 'flagship' });
    host.setPublicUrl(server.url);
    return {
      host,
      stateDir: options.stateDir,
      url: server.url,
      async close() {
        await server.close();
        await host.close();
      },
    };
  } catch (error) {
    await host.close();
    throw error;
  }
}

/** An approval the run paused for: its mail in the outbox, the link in it, and the remote's branches while it waited. */
export interface ApprovalRequest {
  approvalId: string;
  runId: string;
  mail: OutboxMail;
  link: string;
  branchesBefore: string[];
}

/** What deciding returned: the page the link showed and the answer to the decision, when it was made here. */
export interface ApprovalOutcome {
  page?: string;
  answer?: string;
}

export type Decide = (request: ApprovalRequest, morning: Morning, signal?: AbortSignal) => Promise<ApprovalOutcome>;

export interface RunMorningOptions {
  /** The run's dedupe key: its run id is derived from it. */
  dedupeKey: string;
  decide: Decide;
  /** Told of each approval before it is decided (the command prints the link). */
  onApproval?: (request: ApprovalRequest) => void;
  mailTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface MorningRun {
  runId: string;
  meta: RunMeta;
  trace: TraceEvent[];
  messages: Message[];
  approvals: (ApprovalRequest & ApprovalOutcome)[];
  /** The ledger and the newest notes once the run ended. */
  ledger: LedgerItem[];
  notes: HandoffNote[];
}

const POLL_MS = 100;
const MAIL_TIMEOUT_MS = 60_000;

/** Runs the morning's loop to its end, deciding every approval it pauses for, whenever it does. */
export async function runMorning(morning: Morning, options: RunMorningOptions): Promise<MorningRun> {
  const { host } = morning;
  const runId = runIdFor(AGENT, options.dedupeKey);
  const running = host.run({ agent: AGENT, input: {}, dedupeKey: options.dedupeKey }, options.signal);
  let ended = false;
  running.then(
    () => (ended = true),
    () => (ended = true),
  );
  const approvals: MorningRun['approvals'] = [];
  while (!ended) {
    const meta = await host.deps.store.getRun(runId);
    const pending = meta?.status === 'paused' ? meta.pendingApprovalId : undefined;
    if (pending && !approvals.some((each) => each.approvalId === pending)) {
      const mail = await waitForMail(outboxDir(morning.stateDir), (each) => each.text.includes(pending), {
        timeoutMs: options.mailTimeoutMs ?? MAIL_TIMEOUT_MS,
        what: `approval mail for ${pending}`,
      });
      const request = {
        approvalId: pending,
        runId,
        mail,
        link: linkIn(mail),
        branchesBefore: remoteBranches(morning.stateDir),
      };
      options.onApproval?.(request);
      approvals.push({ ...request, ...(await options.decide(request, morning, options.signal)) });
    } else await Promise.race([running.catch(() => undefined), sleep(POLL_MS)]);
  }
  const result = await running;
  const state = await host.deps.store.loadState(runId);
  return {
    runId,
    meta: result.meta,
    trace: await host.deps.store.listTrace(runId),
    messages: state?.messages ?? [],
    approvals,
    ledger: await ledgerNow(host.deps.memory!, AGENT, new Date()),
    notes: await host.deps.memory!.listNotes(AGENT, 5),
  };
}

/** The tool calls the run's model made, in order. */
export const toolCalls = (messages: Message[]) =>
  messages.flatMap((message) => message.content).flatMap((block) => (block.type === 'tool_call' ? [block] : []));

/** The tool results the run's model read, in order. */
export const toolResults = (messages: Message[]) =>
  messages
    .flatMap((message) => message.content)
    .flatMap((block) => (block.type === 'tool_result' ? [{ name: block.name, text: block.content }] : []));

/** The run's prompt: its first message's text (the previous run's handoff note comes first in it). */
export function promptOf(messages: Message[]): string {
  const block = messages[0]?.content[0];
  return block?.type === 'text' ? block.text : '';
}

/** Decides as the lead does from the mail: opens the link, and approves with the page's own form. */
export const approveByLink: Decide = async (request) => {
  const page = await (await fetch(request.link)).text();
  const formToken = /name="form_token" value="([^"]+)"/.exec(page)?.[1];
  if (!formToken) throw new Error(`the approval page at ${request.link} has no form to approve with`);
  const decided = await fetch(request.link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ form_token: formToken, decision: 'approve' }).toString(),
  });
  const answer = await decided.text();
  if (!answer.includes('Approved by')) {
    const heading = /<h1>([^<]*)<\/h1>/.exec(answer)?.[1] ?? `HTTP ${decided.status}`;
    throw new Error(`approving at ${request.link} answered "${heading}", not "Approved by …"`);
  }
  return { page, answer };
};

/** Leaves the decision to a person with the link: waits until the run no longer waits for this approval. */
export const decidedElsewhere: Decide = async (request, morning, signal) => {
  for (;;) {
    if (signal?.aborted) throw new Error(`approval ${request.approvalId} was still waiting for a decision`);
    const meta = await morning.host.deps.store.getRun(request.runId);
    if (meta?.status !== 'paused' || meta.pendingApprovalId !== request.approvalId) return {};
    await sleep(POLL_MS * 5);
  }
};
