import { addUsage, ZERO_USAGE, type RunMeta, type Usage } from '../../definitions/run.ts';

/**
 * What one call adds to the run record, beside its result and trace: each built-in tool
 * (and the governed path) names its own field here, and the ToolStep merges a turn's
 * patches with the one rule each field has, so a new feature adds a field and its rule,
 * not another branch in the step.
 */
export interface RunPatch {
  /** A skill version the call loaded (`name@version`), appended to `skillsLoaded`. */
  skillsLoaded?: string[];
  /** Tools of deferred servers the call loaded, appended once each to `loadedTools`. */
  loadedTools?: string[];
  /** Handles of results the call's content previews, appended once each to `offloadedResults`. */
  offloadedResults?: string[];
  /** A delegated sub-agent run's usage, rolled into `subagentUsage` (its cost was charged by its own steps). */
  subagentUsage?: Usage;
  /** When the run's sandbox was copied in, as a sandbox call found it: the latest of the turn wins. */
  sandboxCreatedAt?: string;
}

type Merge<K extends keyof RunPatch> = (meta: RunMeta, values: Array<NonNullable<RunPatch[K]>>) => void;

const appended = (current: string[] | undefined, values: string[][]): string[] => [
  ...(current ?? []),
  ...values.flat(),
];
const unique = (current: string[] | undefined, values: string[][]): string[] => [...new Set(appended(current, values))];

/** One merge rule per field; a field nobody set this turn leaves the record as it was. */
const MERGES: { [K in keyof RunPatch]-?: Merge<K> } = {
  skillsLoaded: (meta, values) => (meta.skillsLoaded = appended(meta.skillsLoaded, values)),
  loadedTools: (meta, values) => (meta.loadedTools = unique(meta.loadedTools, values)),
  offloadedResults: (meta, values) => (meta.offloadedResults = unique(meta.offloadedResults, values)),
  subagentUsage: (meta, values) => (meta.subagentUsage = values.reduce(addUsage, meta.subagentUsage ?? ZERO_USAGE)),
  sandboxCreatedAt: (meta, values) => (meta.sandboxCreatedAt = [...values].sort().at(-1)),
};

/** Merges a turn's patches into the run record being written, in call order. */
export function applyPatches(meta: RunMeta, patches: Array<RunPatch | undefined>): void {
  for (const key of Object.keys(MERGES) as Array<keyof RunPatch>) merge(meta, key, patches);
}

function merge<K extends keyof RunPatch>(meta: RunMeta, key: K, patches: Array<RunPatch | undefined>): void {
  // An empty list changes nothing: the record keeps its field as it was (absent stays absent).
  const values = patches
    .map((patch) => patch?.[key])
    .filter((value): value is NonNullable<RunPatch[K]> => value !== undefined)
    .filter((value) => !(Array.isArray(value) && value.length === 0));
  // Each rule takes its own field's values: TypeScript cannot see that through the generic index.
  if (values.length > 0) (MERGES[key] as (meta: RunMeta, values: unknown[]) => void)(meta, values);
}
