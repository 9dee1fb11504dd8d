import { DynamoSkillStore } from '../../adapters/dynamodb/skill-store.ts';
import type { SkillRegistry } from './runtime.ts';

/**
 * The skills registry on the run table. Only the steps that read it pass this to lambdaDeps:
 * StartRun mounts a run's pinned skills, ToolStep loads one when the model asks; the other
 * functions never read skills, so the skill records' schema and the version rules stay out of
 * their bundles. The local host wires it always (run-deps.ts).
 */
export const SKILL_REGISTRY: SkillRegistry = ({ client, tableName }) => new DynamoSkillStore({ client, tableName });
