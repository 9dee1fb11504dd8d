import * as z from './zod.ts';

/**
 * What starts a run, defined once: each kind with the traits the runtime acts on. A new
 * kind has to say each of them here; the zod enum, the API's schema and the console's
 * filter all derive from this record.
 */
export interface TriggerKindTraits {
  /** Its input is someone else's text (a webhook body, an event): the run is untrusted from its first message. */
  readonly untrustedInput: boolean;
  /**
   * Its runs announce themselves (`looprail.run.started` / `finished`) and send their
   * agent's notifications. Not MCP gateway sessions: their caller gets the result directly.
   */
  readonly announced: boolean;
  /** Offered as a filter in the console's run list (subagent runs are reached from their parent). */
  readonly listFilter: boolean;
}

export const TRIGGER_KINDS = {
  cli: { untrustedInput: false, announced: true, listFilter: true },
  api: { untrustedInput: false, announced: true, listFilter: true },
  schedule: { untrustedInput: false, announced: true, listFilter: true },
  event: { untrustedInput: true, announced: true, listFilter: true },
  webhook: { untrustedInput: true, announced: true, listFilter: true },
  subagent: { untrustedInput: false, announced: true, listFilter: false },
  mcp: { untrustedInput: false, announced: false, listFilter: true },
} as const satisfies Record<string, TriggerKindTraits>;

export type TriggerKind = keyof typeof TRIGGER_KINDS;

const KIND_NAMES = Object.keys(TRIGGER_KINDS) as [TriggerKind, ...TriggerKind[]];

export const TriggerKind = z.enum(KIND_NAMES);

/** The kinds whose `trait` is true, in the record's order. */
export function triggerKindsWith(trait: keyof TriggerKindTraits): TriggerKind[] {
  return KIND_NAMES.filter((kind) => TRIGGER_KINDS[kind][trait]);
}
