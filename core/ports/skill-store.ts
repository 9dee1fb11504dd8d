import type { SkillRecord } from '../definitions/skills.ts';

/** A published version without its files: what listings show. */
export type SkillSummary = Omit<SkillRecord, 'files'> & { fileCount: number };

/** The skills registry (`SKILL#name / V#version` in the one table). Versions are immutable. */
export interface SkillStore {
  /** Stores a new version; `exists` (and nothing written) when that version was published before. */
  putVersion(record: SkillRecord): Promise<'created' | 'exists'>;
  getVersion(name: string, version: string): Promise<SkillRecord | undefined>;
  /** One skill's versions, or every skill's when no name is given. */
  listVersions(name?: string): Promise<SkillSummary[]>;
}
