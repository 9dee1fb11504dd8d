import { formatProblem } from '../definitions/problems.ts';
import type { SkillRecord, SkillsPolicyFile } from '../definitions/skills.ts';
import type { SkillStore } from '../ports/skill-store.ts';
import { SkillPublishRefusedError } from './errors.ts';
import { parseSkillFolder } from './folder.ts';
import { publishRefusal } from './policy.ts';

/** The registry's rules for publishing: a checked folder, a publisher the policy names, each version once. */

export interface PublishRequest {
  /** The folder as the user named it, for messages. */
  display: string;
  files: Array<{ path: string; content: string }>;
  principal: string;
  policy: SkillsPolicyFile | undefined;
  now: Date;
}

/** Stores a new, immutable version; refuses a bad folder, a publisher the policy does not name, and an existing version. */
export async function publishSkill(store: SkillStore, request: PublishRequest): Promise<SkillRecord> {
  const { skill, problems } = parseSkillFolder(request.display, request.files);
  if (!skill) throw new SkillPublishRefusedError(problems.map(formatProblem).join('\n'));
  const { name, version, description } = skill.front;
  const refusal = publishRefusal(request.policy, name, request.principal);
  if (refusal) throw new SkillPublishRefusedError(`${refusal}; nothing was published`);
  const record: SkillRecord = {
    name,
    version,
    description,
    files: skill.files,
    sha256: skill.sha256,
    publisher: request.principal,
    publishedAt: request.now.toISOString(),
  };
  if ((await store.putVersion(record)) === 'exists') {
    const existing = await store.getVersion(name, version);
    const same = existing?.sha256 === record.sha256 ? ' (with the same content)' : ' with different content';
    throw new SkillPublishRefusedError(
      `${name}@${version} is already published${same}; versions are immutable: raise the version in SKILL.md to publish a change`,
    );
  }
  return record;
}

/** What publishing a folder whose version may already be in the registry came to. */
export type PublishOutcome =
  | { outcome: 'published'; record: SkillRecord }
  | { outcome: 'unchanged'; name: string; version: string }
  /** That version is published with other content: versions are immutable, nothing was written. */
  | { outcome: 'differs'; name: string; version: string; publishedSha256: string; sha256: string; message: string };

/**
 * Publishes the folder's version unless the registry has it: the same content is
 * `unchanged` (nothing to do), other content is `differs` (never replaced). A new version
 * goes through `publishSkill`: the same folder checks and owners policy.
 */
export async function publishUnlessPresent(store: SkillStore, request: PublishRequest): Promise<PublishOutcome> {
  const { skill, problems } = parseSkillFolder(request.display, request.files);
  if (!skill) throw new SkillPublishRefusedError(problems.map(formatProblem).join('\n'));
  const { name, version } = skill.front;
  const existing = await store.getVersion(name, version);
  if (!existing) return { outcome: 'published', record: await publishSkill(store, request) };
  if (existing.sha256 === skill.sha256) return { outcome: 'unchanged', name, version };
  return {
    outcome: 'differs',
    name,
    version,
    publishedSha256: existing.sha256,
    sha256: skill.sha256,
    message:
      `${name}@${version} is already published with different content (the registry has sha256:${existing.sha256}, ` +
      `${request.display} is sha256:${skill.sha256}); versions are immutable: raise the version in SKILL.md to publish a change`,
  };
}
