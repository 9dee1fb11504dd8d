import * as z from './zod.ts';
import { Count, Duration } from './primitives.ts';

/**
 * `memory:` in an agent definition: the loop's work ledger and handoff note
 * (docs/loop-memory.md). Declaring it offers the run the ledger tools and puts the last
 * run's note in front of the model; without it a run has no memory of earlier runs.
 */
export const MemorySpec = z.strictObject(
  {
    retention: z
      .optional(Duration)
      .check(
        z.describe('How long a ledger item or note version is kept after its last write (DynamoDB TTL). Default 90d.'),
      ),
    lease: z
      .optional(Duration)
      .check(
        z.describe('How long a claim lasts: a claimed item whose run died returns to open after this. Default 30m.'),
      ),
    max_attempts: z
      .optional(Count)
      .check(
        z.describe('Claims an item may take; the claim after the last moves it to needs_human instead. Default 3.'),
      ),
    note_max_chars: z.optional(Count).check(z.describe('The longest handoff note, in characters. Default 4000.')),
    item_id_max_chars: z
      .optional(Count)
      .check(
        z.describe(
          "The longest item id (the caller's own key: a CI job and date, an issue number), in characters. Default 200.",
        ),
      ),
    note_from_final_answer: z
      .optional(z.boolean({ error: 'expected true or false' }))
      .check(
        z.describe("Also keep the run's final answer as its handoff note when the model wrote none. Default false."),
      ),
  },
  {
    error: (issue) => {
      const keys =
        '{ retention?, lease?, max_attempts?, note_max_chars?, item_id_max_chars?, note_from_final_answer? }';
      if (issue.code === 'unrecognized_keys')
        return `unknown memory setting ${issue.keys.join(', ')}: expected ${keys}`;
      return `expected memory settings: ${keys}`;
    },
  },
);
export type MemorySpec = z.infer<typeof MemorySpec>;

export const DEFAULT_MEMORY = {
  retention_seconds: 90 * 86_400,
  lease_seconds: 30 * 60,
  max_attempts: 3,
  note_max_chars: 4_000,
  item_id_max_chars: 200,
  /** An outcome is a line or two: what was done, or why not. */
  outcome_max_chars: 1_000,
} as const;

/** The settings a run's snapshot keeps (every default filled in). */
export interface MemoryPolicy {
  retentionSeconds: number;
  leaseSeconds: number;
  maxAttempts: number;
  noteMaxChars: number;
  itemIdMaxChars: number;
  outcomeMaxChars: number;
  noteFromFinalAnswer: boolean;
}

export function resolveMemory(spec: MemorySpec | undefined): MemoryPolicy | undefined {
  if (!spec) return undefined;
  return {
    retentionSeconds: spec.retention ?? DEFAULT_MEMORY.retention_seconds,
    leaseSeconds: spec.lease ?? DEFAULT_MEMORY.lease_seconds,
    maxAttempts: spec.max_attempts ?? DEFAULT_MEMORY.max_attempts,
    noteMaxChars: spec.note_max_chars ?? DEFAULT_MEMORY.note_max_chars,
    itemIdMaxChars: spec.item_id_max_chars ?? DEFAULT_MEMORY.item_id_max_chars,
    outcomeMaxChars: DEFAULT_MEMORY.outcome_max_chars,
    noteFromFinalAnswer: spec.note_from_final_answer ?? false,
  };
}

/** One line for the inventory: what the loop keeps, for how long, and its limits. */
export function memorySummary(policy: MemoryPolicy): string {
  const days = (seconds: number) => (seconds % 86_400 === 0 ? `${seconds / 86_400} d` : `${seconds} s`);
  const lease = policy.leaseSeconds % 60 === 0 ? `${policy.leaseSeconds / 60} min` : `${policy.leaseSeconds} s`;
  return [
    `work ledger and handoff note, kept ${days(policy.retentionSeconds)}`,
    `lease ${lease}`,
    `${policy.maxAttempts} attempts then needs_human`,
    `note ≤ ${policy.noteMaxChars} chars`,
    `item id ≤ ${policy.itemIdMaxChars} chars`,
    ...(policy.noteFromFinalAnswer ? ['final answer kept as note'] : []),
  ].join(' · ');
}
