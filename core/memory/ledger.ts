import type { MemoryPolicy } from '../definitions/memory.ts';

/**
 * The work ledger's rules, pure: what each write does to one item, decided here and stored
 * by the MemoryStore port with a condition on the item's version (core/memory/operations.ts),
 * so two overlapping runs never both win the same write. docs/loop-memory.md has the states.
 */

export const LEDGER_STATES = ['open', 'claimed', 'done', 'failed', 'needs_human'] as const;
export type LedgerState = (typeof LEDGER_STATES)[number];

/** What a run reports when it is through with an item it claimed. */
export const FINISHED_STATES = ['done', 'failed', 'needs_human'] as const;
export type FinishedState = (typeof FINISHED_STATES)[number];

/** The last write a run's tool call made: the same call, retried, finds it applied. */
export interface LedgerWrite {
  runId: string;
  callId: string;
  action: 'claim' | 'finish';
}

/** An operator's action on the item (`looprail memory --reopen/--done`): who and when. */
export interface OperatorMark {
  action: 'reopen' | 'done' | 'clear';
  by: string;
  at: string;
}

export interface LedgerItem {
  agent: string;
  /** The caller's own key: a CI job and date, an issue number, a commit. */
  id: string;
  state: LedgerState;
  /** Claims taken so far. */
  attempts: number;
  /** The run that last claimed or finished it. */
  runId?: string;
  claimedAt?: string;
  /** A claim is live until then; after, the item counts as open again. */
  leaseUntil?: string;
  /** A short outcome: what was done, or why not. */
  outcome?: string;
  createdAt: string;
  updatedAt: string;
  /** Epoch seconds: the store forgets the item then (retention after its last write). */
  expiresAt: number;
  /** Bumped by every write; a write is conditional on the version it read (0: no item yet). */
  version: number;
  lastWrite?: LedgerWrite;
  operator?: OperatorMark;
}

/** A write's result: the item to store, or why there is none (a refusal the model reads). */
export type Transition =
  | { kind: 'write'; item: LedgerItem; message: string; isError?: boolean }
  /** The same call applied it before (a retried step): nothing to write, the same answer. */
  | { kind: 'applied'; item: LedgerItem; message: string; isError?: boolean }
  | { kind: 'refused'; reason: string; item?: LedgerItem };

/** An item's state as of now: a claim whose lease ran out is open again. */
export function currentState(item: LedgerItem, now: Date): LedgerState {
  if (item.state === 'claimed' && item.leaseUntil !== undefined && Date.parse(item.leaseUntil) <= now.getTime()) {
    return 'open';
  }
  return item.state;
}

/** The item as a listing shows it now (its lease expiry applied). */
export function asOfNow(item: LedgerItem, now: Date): LedgerItem {
  return currentState(item, now) === item.state ? item : { ...item, state: 'open', leaseUntil: undefined };
}

export function expiryOf(policy: MemoryPolicy, now: Date): number {
  return Math.floor(now.getTime() / 1000) + policy.retentionSeconds;
}

/** Why an item id cannot be used, or undefined. */
export function itemIdProblem(id: unknown, policy: MemoryPolicy): string | undefined {
  if (typeof id !== 'string' || id.trim() === '') return 'expected "id": the item\'s own key as non-empty text';
  if (id.length > policy.itemIdMaxChars) {
    return `the item id is ${id.length} characters; this agent's memory.item_id_max_chars is ${policy.itemIdMaxChars}`;
  }
  if (/[\u0000-\u001f]/.test(id)) return 'the item id has control characters (a line break, a tab): use plain text';
  return undefined;
}

function claimed(item: LedgerItem, write: LedgerWrite, policy: MemoryPolicy, now: Date): LedgerItem {
  return {
    ...item,
    state: 'claimed',
    attempts: item.attempts + 1,
    runId: write.runId,
    claimedAt: now.toISOString(),
    leaseUntil: new Date(now.getTime() + policy.leaseSeconds * 1000).toISOString(),
    updatedAt: now.toISOString(),
    expiresAt: expiryOf(policy, now),
    version: item.version + 1,
    lastWrite: write,
  };
}

/** What a claim call answers, from the item it left: claimed, or parked for a human. */
function claimAnswer(item: LedgerItem, policy: MemoryPolicy): { message: string; isError?: boolean } {
  if (item.state === 'claimed') return { message: claimMessage(item, policy) };
  const reason = `"${item.id}" has used its ${policy.maxAttempts} attempts (memory.max_attempts): it now needs a human`;
  return { message: `refused: ${reason}`, isError: true };
}

function claimMessage(item: LedgerItem, policy: MemoryPolicy): string {
  return `claimed "${item.id}" (attempt ${item.attempts} of ${policy.maxAttempts}); the claim lasts until ${item.leaseUntil}. Report it with looprail__ledger_done when you are through.`;
}

/**
 * A run claims an item (creating it when the ledger has none by that id): open, failed, or
 * claimed by a run whose lease ran out. Done and needs_human items are left alone, and an
 * item out of attempts moves to needs_human instead of being claimed again.
 */
export function claimTransition(
  found: LedgerItem | undefined,
  target: { agent: string; id: string },
  write: LedgerWrite,
  policy: MemoryPolicy,
  now: Date,
): Transition {
  if (found && sameWrite(found.lastWrite, write))
    return { kind: 'applied', item: found, ...claimAnswer(found, policy) };
  const at = now.toISOString();
  const item: LedgerItem = found ?? {
    ...target,
    state: 'open',
    attempts: 0,
    createdAt: at,
    updatedAt: at,
    expiresAt: expiryOf(policy, now),
    version: 0,
  };
  const state = currentState(item, now);
  if (state === 'claimed') {
    const whose = item.runId === write.runId ? 'this run already holds it' : `run ${item.runId} holds it`;
    return { kind: 'refused', item, reason: `"${item.id}" is claimed: ${whose} until ${item.leaseUntil}` };
  }
  if (state === 'done' || state === 'needs_human') {
    const outcome = item.outcome ? `: ${item.outcome}` : '';
    return {
      kind: 'refused',
      item,
      reason: `"${item.id}" is ${state} (run ${item.runId ?? 'unknown'}${outcome}); leave it`,
    };
  }
  if (item.attempts >= policy.maxAttempts) {
    const parked: LedgerItem = {
      ...item,
      state: 'needs_human',
      leaseUntil: undefined,
      outcome: item.outcome ?? 'out of attempts',
      updatedAt: at,
      expiresAt: expiryOf(policy, now),
      version: item.version + 1,
      lastWrite: write,
    };
    return { kind: 'write', item: parked, ...claimAnswer(parked, policy) };
  }
  const next = claimed(item, write, policy, now);
  return { kind: 'write', item: next, ...claimAnswer(next, policy) };
}

/**
 * The run that holds an item reports it done, failed or needs_human, with a short outcome.
 * A failure on the last attempt is needs_human: nobody would claim it again.
 */
export function finishTransition(
  found: LedgerItem | undefined,
  id: string,
  report: { state: FinishedState; outcome: string },
  write: LedgerWrite,
  policy: MemoryPolicy,
  now: Date,
): Transition {
  if (found && sameWrite(found.lastWrite, write)) {
    return { kind: 'applied', item: found, message: finishMessage(found) };
  }
  if (!found) return { kind: 'refused', reason: `the ledger has no item "${id}": claim it first` };
  if (found.state !== 'claimed' || found.runId !== write.runId) {
    const holder = found.state === 'claimed' ? `claimed by run ${found.runId}` : found.state;
    return {
      kind: 'refused',
      item: found,
      reason: `"${id}" is not claimed by this run (it is ${holder}): claim it first`,
    };
  }
  const state = report.state === 'failed' && found.attempts >= policy.maxAttempts ? 'needs_human' : report.state;
  const next: LedgerItem = {
    ...found,
    state,
    leaseUntil: undefined,
    outcome: report.outcome,
    updatedAt: now.toISOString(),
    expiresAt: expiryOf(policy, now),
    version: found.version + 1,
    lastWrite: write,
  };
  return { kind: 'write', item: next, message: finishMessage(next) };
}

function finishMessage(item: LedgerItem): string {
  return `"${item.id}" is ${item.state} after ${item.attempts} attempt${item.attempts === 1 ? '' : 's'}`;
}

/** An operator reopens an item (attempts start again) or marks it done, whatever its state. */
export function operatorTransition(
  found: LedgerItem | undefined,
  id: string,
  mark: OperatorMark & { action: 'reopen' | 'done' },
  policy: MemoryPolicy,
  now: Date,
): Transition {
  if (!found) return { kind: 'refused', reason: `the ledger has no item "${id}"` };
  const next: LedgerItem = {
    ...found,
    state: mark.action === 'reopen' ? 'open' : 'done',
    attempts: mark.action === 'reopen' ? 0 : found.attempts,
    leaseUntil: undefined,
    outcome: mark.action === 'reopen' ? found.outcome : `marked done by ${mark.by}`,
    updatedAt: now.toISOString(),
    expiresAt: expiryOf(policy, now),
    version: found.version + 1,
    lastWrite: undefined,
    operator: mark,
  };
  return { kind: 'write', item: next, message: `"${id}" is ${next.state} (${mark.action} by ${mark.by})` };
}

function sameWrite(a: LedgerWrite | undefined, b: LedgerWrite): boolean {
  return a !== undefined && a.runId === b.runId && a.callId === b.callId && a.action === b.action;
}
