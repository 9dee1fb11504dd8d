import { ValidationError } from '../../core/errors.ts';

/**
 * Every key in the one table (docs/architecture.md, Data: the one table). The only module that builds
 * key strings: everything else asks it for a key, so a shape changes in one place.
 *
 * Sort-key order inside a run's partition matters and is relied on by the run store:
 *
 *   CTX  <  META  <  MSG#000000001 …  <  STEP#000000001 …
 *
 * so one Query over `CTX … MSG#\uffff` returns the snapshot, the run record and the
 * conversation, and leaves the (much larger, ever-growing) trace events out.
 */

/** Attribute names of the table's keys and of its two indexes. */
export const KEY_ATTRIBUTES = {
  partitionKey: 'pk',
  sortKey: 'sk',
  gsi1Name: 'gsi1',
  gsi1PartitionKey: 'gsi1pk',
  gsi1SortKey: 'gsi1sk',
  /**
   * Runs by status, across agents: the run record's top-level `status` and its run-index
   * sort key (creation time, then run id). Only run records carry both, so the index holds
   * nothing else; every run record ever written has them, so it needs no backfill of ours.
   */
  statusIndexName: 'runsByStatus',
  statusIndexPartitionKey: 'status',
} as const;

export interface TableKey {
  pk: string;
  sk: string;
}

/** The run index: runs by agent, newest last in key order (query it backwards). */
export interface RunIndexKey {
  gsi1pk: string;
  gsi1sk: string;
}

/** Sequence numbers are zero-padded so that string order is numeric order. */
export const SEQ_DIGITS = 9;
const MAX_SEQ = 10 ** SEQ_DIGITS - 1;

export const RUN_PARTITION_PREFIX = 'RUN#';
export const RUN_META_SK = 'META';
export const RUN_CONTEXT_SK = 'CTX';
export const MESSAGE_SK_PREFIX = 'MSG#';
export const TRACE_SK_PREFIX = 'STEP#';

/** `sk BETWEEN from AND to` selects CTX, META and every MSG#, and no STEP#. */
export const RUN_STATE_SK_RANGE = { from: RUN_CONTEXT_SK, to: `${MESSAGE_SK_PREFIX}\uffff` } as const;

export function padSeq(seq: number): string {
  if (!Number.isInteger(seq) || seq < 0 || seq > MAX_SEQ) {
    throw new ValidationError(`sequence number must be a whole number from 0 to ${MAX_SEQ}, got ${seq}`);
  }
  return String(seq).padStart(SEQ_DIGITS, '0');
}

/**
 * A key component must be non-empty and free of `#`, or two different ids could make
 * the same key (`BUDGET#a#b#c` is ambiguous). Ids and names are generated or validated
 * upstream, so this only trips on a bug or on unvalidated input.
 */
function part(label: string, value: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.includes('#')) {
    throw new ValidationError(`${label} must be a non-empty string without '#', got ${JSON.stringify(value)}`);
  }
  return value;
}

// Runs: RUN#<runId> holds the record, the snapshot, the conversation and the trace.

export function runPartition(runId: string): string {
  return `${RUN_PARTITION_PREFIX}${part('runId', runId)}`;
}

export function runMetaKey(runId: string): TableKey {
  return { pk: runPartition(runId), sk: RUN_META_SK };
}

export function runContextKey(runId: string): TableKey {
  return { pk: runPartition(runId), sk: RUN_CONTEXT_SK };
}

export function messageKey(runId: string, seq: number): TableKey {
  return { pk: runPartition(runId), sk: `${MESSAGE_SK_PREFIX}${padSeq(seq)}` };
}

export function traceKey(runId: string, seq: number): TableKey {
  return { pk: runPartition(runId), sk: `${TRACE_SK_PREFIX}${padSeq(seq)}` };
}

/** The partition of the run index that holds one agent's runs. */
export function agentRunsPartition(agent: string): string {
  return `AGENT#${part('agent', agent)}`;
}

/** ISO timestamps sort by time, and the run id breaks ties between runs of the same millisecond. */
export function runIndexKey(agent: string, createdAt: string, runId: string): RunIndexKey {
  return { gsi1pk: agentRunsPartition(agent), gsi1sk: runListPosition(createdAt, runId) };
}

/**
 * A run's place in every listing: the sort key of both run indexes. The creation time comes
 * first and holds no `#`, so `runListCreatedAt` reads it back from a key alone.
 */
export function runListPosition(createdAt: string, runId: string): string {
  return `${part('createdAt', createdAt)}#${part('runId', runId)}`;
}

export function runListCreatedAt(position: string): string {
  return position.slice(0, position.indexOf('#'));
}

/** The status index's keys of a run record: its status, and its place in listings. */
export function runStatusIndexKey(status: string, createdAt: string, runId: string): Record<string, string> {
  return {
    [KEY_ATTRIBUTES.statusIndexPartitionKey]: part('status', status),
    [KEY_ATTRIBUTES.gsi1SortKey]: runListPosition(createdAt, runId),
  };
}

// Everything else: one item per thing.

export function approvalKey(approvalId: string): TableKey {
  return { pk: `APPROVAL#${part('approvalId', approvalId)}`, sk: 'META' };
}

export function agentKey(name: string, version: string): TableKey {
  return { pk: `AGENT#${part('agent name', name)}`, sk: `V#${part('agent version', version)}` };
}

export function budgetKey(scope: string, key: string, period: string): TableKey {
  // Keys can be principals (`user:ops@example.com`), so they are encoded.
  return {
    pk: `BUDGET#${part('budget scope', scope)}#${encodeURIComponent(part('budget key', key))}`,
    sk: `P#${part('budget period', period)}`,
  };
}

/** One budget alert: a budget, its period and the threshold crossed (at most one each). */
export function alertKey(budget: string, periodKey: string, threshold: number): TableKey {
  return { pk: `ALERT#${part('budget name', budget)}#${part('budget period', periodKey)}`, sk: `T#${threshold}` };
}

/** An agent's runs in flight, against its max_concurrent_runs. */
export function concurrencyKey(agent: string): TableKey {
  return { pk: `CONC#${part('agent name', agent)}`, sk: 'META' };
}

/** A budget charge's ledger row: one per model call attempt, so a retry never counts twice. */
export function chargeKey(chargeId: string): TableKey {
  return { pk: `CHARGE#${encodeURIComponent(part('charge id', chargeId))}`, sk: 'META' };
}

export function rollupKey(dimension: string, key: string, date: string): TableKey {
  return {
    pk: `ROLLUP#${part('rollup dimension', dimension)}#${encodeURIComponent(part('rollup key', key))}`,
    sk: `D#${part('rollup date', date)}`,
  };
}

/** Rollups by dimension and day on the GSI: one Query lists a dimension's days in a range. */
export function rollupIndexKey(dimension: string, date: string, key: string): RunIndexKey {
  return {
    gsi1pk: `ROLLUP#${part('rollup dimension', dimension)}`,
    gsi1sk: `${part('rollup date', date)}#${encodeURIComponent(key)}`,
  };
}

export function skillKey(name: string, version: string): TableKey {
  return { pk: skillPartition(name), sk: `${SKILL_VERSION_SK_PREFIX}${part('skill version', version)}` };
}

export const SKILL_VERSION_SK_PREFIX = 'V#';

/** What every skill partition starts with: the skills publisher's grant is limited to these keys. */
export const SKILL_PK_PREFIX = 'SKILL#';

/** Every skill's partition, for a Query over one skill's versions. */
export function skillPartition(name: string): string {
  return `${SKILL_PK_PREFIX}${part('skill name', name)}`;
}

/** All skills' versions on the GSI, in one partition: the registry is small (one item per published version). */
export const SKILLS_INDEX_PARTITION = 'SKILLS';

export function skillIndexKey(name: string, version: string): RunIndexKey {
  return { gsi1pk: SKILLS_INDEX_PARTITION, gsi1sk: `${part('skill name', name)}#${part('skill version', version)}` };
}

export function idempotencyKey(key: string): TableKey {
  return { pk: `IDEM#${part('idempotency key', key)}`, sk: 'META' };
}

/** A fixed one-minute window of an org-wide rate limit (`tool:github.merge_pr`). */
export function rateWindowKey(subject: string, windowStart: string): TableKey {
  return {
    pk: `RATE#${encodeURIComponent(part('rate limit subject', subject))}`,
    sk: `W#${part('rate window', windowStart)}`,
  };
}

/** One side-effecting tool call of a run. Call ids come from providers, so they are encoded. */
export function sideEffectKey(runId: string, callId: string): TableKey {
  return idempotencyKey(`${part('runId', runId)}/${encodeURIComponent(callId)}`);
}

// Offloaded tool results: in the run's partition, after MSG# and before STEP# (so loadState and listTrace skip them).

export const RESULT_SK_PREFIX = 'RES#';

/** Every item of one offloaded result: its header and its chunks. Call ids come from providers, so they are encoded. */
export function resultPrefix(callId: string): string {
  return `${RESULT_SK_PREFIX}${encodeURIComponent(part('callId', callId))}#`;
}

/** The header is `H`; chunks are `C` and a zero-padded index, so they sort in order after it. */
export function resultKey(runId: string, callId: string, chunk: number | 'header'): TableKey {
  return { pk: runPartition(runId), sk: `${resultPrefix(callId)}${chunk === 'header' ? 'H' : `C${padSeq(chunk)}`}` };
}

// Loop memory: MEM#<agent> holds the agent's ledger items, note versions and operator actions.

/** What every memory partition starts with (a grant may be limited to these keys). */
export const MEMORY_PK_PREFIX = 'MEM#';
export const LEDGER_ITEM_SK_PREFIX = 'ITEM#';
export const NOTE_SK_PREFIX = 'NOTE#';
export const OPERATOR_ACTION_SK_PREFIX = 'OP#';

export function memoryPartition(agent: string): string {
  return `${MEMORY_PK_PREFIX}${part('agent name', agent)}`;
}

/** Item ids are the caller's own text (`ci#123`, a path): encoded, so any text makes one key. */
export function ledgerItemKey(agent: string, id: string): TableKey {
  return { pk: memoryPartition(agent), sk: `${LEDGER_ITEM_SK_PREFIX}${part('item id', encodeURIComponent(id))}` };
}

/** Note versions are zero-padded: a backwards Query reads the newest first. */
export function noteKey(agent: string, version: number): TableKey {
  return { pk: memoryPartition(agent), sk: `${NOTE_SK_PREFIX}${padSeq(version)}` };
}

/** Operator actions by time, then what, on which item and by whom: two in the same millisecond are both kept. */
export function operatorActionKey(agent: string, at: string, what: string, by: string): TableKey {
  return {
    pk: memoryPartition(agent),
    sk: `${OPERATOR_ACTION_SK_PREFIX}${part('action time', at)}#${part('action', encodeURIComponent(what))}#${part('operator', encodeURIComponent(by))}`,
  };
}
