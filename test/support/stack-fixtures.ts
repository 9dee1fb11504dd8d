import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Catalog } from '../../core/definitions/catalog.ts';

/** What the infra tests build stacks from: the project's cdk.json context and an org with nothing in it. */

export const ROOT = join(import.meta.dirname, '../..');

export const CDK_CONTEXT = (
  JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }
).context;

export const EMPTY_CATALOG = {
  agents: {},
  models: {},
  servers: {},
  skills: {},
  secrets: [],
  budgets: { budgets: [], limits: [] },
} as unknown as Catalog;
