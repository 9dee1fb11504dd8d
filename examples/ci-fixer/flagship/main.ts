import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { INTERRUPTED_EXIT } from '../../../cli/process.ts';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stopBackgroundDb } from '../../../cli/commands/local-db.ts';
import { openSharedDb } from '../../../cli/local/shared-db.ts';
import { startingLine } from '../../../cli/output/progress.ts';
import { morningProblems } from './expected.ts';
import {
  AGENT,
  approveByLink,
  decidedElsewhere,
  ITEMS,
  type MorningRun,
  ORG_DIR,
  openMorning,
  outboxDir,
  overnight,
  PROJECT_ROOT,
  prepareRemote,
  remoteBranches,
  remoteDir,
  runMorning,
} from './mornings.ts';
import { afterLines, approvalLines, carried, eventLine, leftAlone } from './story.ts';

/**
 * `npm run flagship`: the flagship loop (examples/ci-fixer) for someone new to looprail,
 * both mornings end to end on the embedded local parts, told as it happens. The state
 * folder (default `.looprail/flagship/`) is wiped at each start and kept afterwards, so
 * `looprail trace`, `looprail memory` and the console can look at what ran. Exits 1, saying
 * what differs, when a morning does not end as it should (./expected.ts).
 */

const USAGE = `npm run flagship [-- --approve-by-hand] [-- --state-dir <dir>]

  --approve-by-hand   print each approval link and wait until someone opens it and decides
  --state-dir <dir>   where the run keeps its state (default .looprail/flagship; wiped first)`;

/** Written into the state folder: only a folder that has it (or an empty one) is ever wiped. */
const MARK = '.flagship';

const say = (line = '') => console.log(line);
/** A path as the user would type it from here. */
const shown = (path: string) => {
  const from = relative(process.cwd(), path);
  return from && !from.startsWith('..') ? from : path;
};

/** Empties the state folder for a new start, refusing one that npm run flagship did not make. */
export async function freshStateFolder(stateDir: string): Promise<void> {
  const entries = await readdir(stateDir).catch(() => [] as string[]);
  if (entries.length > 0 && !entries.includes(MARK))
    throw new Error(
      `${shown(stateDir)} is not empty and was not made by npm run flagship, so it is not wiped: give --state-dir a new or empty folder`,
    );
  // The previous start's database may still be up (it idles a few minutes): stopped before its files go.
  const db = await stopBackgroundDb(stateDir);
  if (db.kind === 'command' || db.kind === 'timeout')
    throw new Error(
      db.kind === 'command'
        ? `another looprail command (process ${db.pid}) is using ${shown(stateDir)}: stop it, then run npm run flagship again`
        : `the local database of ${shown(stateDir)} (process ${db.pid}) did not stop: stop it, then run npm run flagship again`,
    );
  await rm(stateDir, { recursive: true, force: true });
  await mkdir(stateDir, { recursive: true });
  await writeFile(join(stateDir, MARK), 'made by `npm run flagship`, and wiped at its next start\n');
}

interface Play {
  stateDir: string;
  dynamodbEndpoint: string;
  byHand: boolean;
  signal: AbortSignal;
}

/** One morning, told as it goes; the problems are what ./expected.ts finds amiss. */
async function playMorning(day: 1 | 2, orgDir: string, play: Play): Promise<{ run: MorningRun; problems: string[] }> {
  const morning = await openMorning({
    orgDir,
    stateDir: play.stateDir,
    dynamodbEndpoint: play.dynamodbEndpoint,
    onEvent: (event, role) => {
      const line = eventLine(event, role);
      if (line) say(line);
    },
  });
  try {
    const started = Date.now();
    const run = await runMorning(morning, {
      dedupeKey: `flagship-morning-${day}`,
      decide: play.byHand ? decidedElsewhere : approveByLink,
      onApproval: (request) => {
        for (const line of approvalLines(request, play.byHand, shown(outboxDir(play.stateDir)))) say(line);
      },
      signal: play.signal,
    });
    const branches = remoteBranches(play.stateDir);
    say();
    for (const line of afterLines(run, {
      branches,
      remote: shown(remoteDir(play.stateDir)),
      elapsedMs: Date.now() - started,
    }))
      say(line);
    const problems = morningProblems(day, {
      meta: run.meta,
      branches,
      ledger: run.ledger,
      approvals: run.approvals.length,
    });
    return { run, problems };
  } finally {
    await morning.close();
  }
}

function intro(stateDir: string, byHand: boolean): void {
  say("looprail flagship: two mornings of examples/ci-fixer, a loop that fixes last night's CI failures.");
  say('Everything runs here, offline: DynamoDB Local, the MCP servers from npm (filesystem, Git), a bubblewrap');
  say('sandbox, mail written to an outbox folder. The model is scripted (examples/ci-fixer/scripts/): it plays');
  say('fixed turns, and every trace line says so.');
  say(`State folder: ${shown(stateDir)} (wiped at each start, kept afterwards).`);
  say(
    `Approvals: ${byHand ? 'by hand (--approve-by-hand): you open each mailed link' : 'approved automatically through the mailed link, as the lead would'}.`,
  );
}

function epilogue(stateDir: string, runs: [string, string]): void {
  const state = shown(stateDir);
  say();
  say('Look further (the state folder stays until the next npm run flagship):');
  say(`  npx looprail trace ${runs[0]} --state-dir ${state}    # morning 1, every step`);
  say(`  npx looprail trace ${runs[1]} --state-dir ${state}    # morning 2`);
  say(`  npx looprail memory ${AGENT} --org examples/ci-fixer --state-dir ${state}    # the ledger and the notes`);
  say(`  git -C ${shown(remoteDir(stateDir))} log --oneline --all    # the remote's branches`);
  say(`  npx looprail dev --org examples/ci-fixer --state-dir ${state}    # Ctrl-C stops it`);
  say('    then the console: http://127.0.0.1:8787/console (sign in with the token dev prints)');
}

async function flagship(stateDir: string, byHand: boolean, signal: AbortSignal): Promise<number> {
  await freshStateFolder(stateDir);
  intro(stateDir, byHand);
  const db = await openSharedDb({
    stateDir,
    dbPath: join(stateDir, 'dynamodb'),
    longLived: true,
    onStarting: startingLine({}),
  });
  try {
    const play = { stateDir, dynamodbEndpoint: db.endpoint, byHand, signal };
    await prepareRemote(stateDir);
    say();
    say(`Last night CI failed twice: ${ITEMS.sum} and ${ITEMS.day} (examples/ci-fixer/ci-reports/).`);
    say(`The team's remote ${shown(remoteDir(stateDir))} has main, the calc project with those two failing tests.`);
    say();
    say('━━ Morning 1 ━━ the model plays scripts/day-1.yaml');
    const first = await playMorning(1, ORG_DIR, play);
    if (first.problems.length > 0) return failed(1, first, stateDir);

    const dayTwoOrg = join(stateDir, 'org-day-2');
    await overnight(stateDir, dayTwoOrg);
    say();
    say(`━━ Overnight ━━ the team merges fix/${ITEMS.sum} into main and pushes it; tomorrow's model plays`);
    say(`   scripts/day-2.yaml (a copy of the org: ${shown(dayTwoOrg)}).`);
    say();
    say("━━ Morning 2 ━━ the model plays scripts/day-2.yaml; its prompt starts with yesterday's note");
    const second = await playMorning(2, dayTwoOrg, play);
    second.problems.push(...checkRemembered(first.run, second.run));
    if (second.problems.length > 0) return failed(2, second, stateDir);
    epilogue(stateDir, [first.run.runId, second.run.runId]);
    return 0;
  } finally {
    await db.release();
  }
}

/** What the second morning shows of the first: the note carried in its prompt, the done item left alone; the problems if not. */
function checkRemembered(first: MorningRun, second: MorningRun): string[] {
  const problems: string[] = [];
  const note = first.notes.find((each) => each.runId === first.runId);
  if (note && carried(second, note))
    say(`  carried in its prompt: the note of morning 1 (version ${note.version}, run ${note.runId})`);
  else problems.push("the prompt did not carry the first morning's handoff note");
  const alone = leftAlone(second, [ITEMS.sum]);
  if (alone.length > 0)
    say(`  left alone, done the day before (no call of this morning names it): ${alone.join(', ')}`);
  else problems.push(`a tool call of the second morning named ${ITEMS.sum}, done the day before`);
  return problems;
}

function failed(day: 1 | 2, morning: { run: MorningRun; problems: string[] }, stateDir: string): number {
  console.error();
  console.error(`✗ morning ${day} did not end as expected:`);
  for (const problem of morning.problems) console.error(`  - ${problem}`);
  console.error(`  see every step: npx looprail trace ${morning.run.runId} --state-dir ${shown(stateDir)}`);
  return 1;
}

async function main(argv: string[]): Promise<number> {
  let values: { 'approve-by-hand': boolean; 'state-dir'?: string; help: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'approve-by-hand': { type: 'boolean', default: false },
        'state-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    console.error(`✗ npm run flagship: ${(error as Error).message}\n\n${USAGE}`);
    return 1;
  }
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const stateDir = resolve(values['state-dir'] ?? join(PROJECT_ROOT, '.looprail', 'flagship'));
  const controller = new AbortController();
  process.once('SIGINT', () => {
    console.error('\ninterrupted: stopping the run (what ran so far stays in the state folder)');
    controller.abort();
  });
  try {
    const code = await flagship(stateDir, values['approve-by-hand'], controller.signal);
    return controller.signal.aborted ? INTERRUPTED_EXIT : code;
  } catch (error) {
    if (!controller.signal.aborted) throw error;
    console.error(`stopped: ${(error as Error).message}`);
    return INTERRUPTED_EXIT;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2)).catch((error: Error) => {
    console.error(`✗ npm run flagship: ${error.message}`);
    return 1;
  });
  // Interrupted at an approval, the engine still holds the paused task's timer (a day long): everything is closed, so leave now.
  if (code === INTERRUPTED_EXIT) process.exit(code);
  process.exitCode = code;
}
