import type { AccessProfile, Facet } from './access-profile.ts';

/**
 * The difference between two sets of access profiles (before and after a change to the
 * definitions), facet by facet, each change marked by which way it moves what the agent may
 * do. "widens" is what a reviewer must not miss: a new tool, a lost approval, a raised
 * ceiling, a new trigger or sandbox host, a new agent.
 */

export type Direction = 'widens' | 'narrows' | 'changes';

export interface AccessChange {
  agent: string;
  /** `tool ci.list_jobs`, `approval github.*`, `limit max_steps`, `subagent reviewer tool …`, or `agent`. */
  facet: string;
  change: 'added' | 'removed' | 'changed';
  before?: string;
  after?: string;
  direction: Direction;
}

export interface AccessDiff {
  changes: AccessChange[];
  widened: boolean;
}

export function diffAccess(before: Map<string, AccessProfile>, after: Map<string, AccessProfile>): AccessDiff {
  const changes: AccessChange[] = [];
  const agents = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const agent of agents) {
    const was = before.get(agent);
    const now = after.get(agent);
    if (!was || !now) {
      const profile = (was ?? now)!;
      changes.push({
        agent,
        facet: 'agent',
        change: was ? 'removed' : 'added',
        [was ? 'before' : 'after']: summary(profile),
        direction: was ? 'narrows' : 'widens',
      });
      continue;
    }
    const facets = [...new Set([...was.keys(), ...now.keys()])].sort(byArea);
    for (const facet of facets) {
      const a = was.get(facet);
      const b = now.get(facet);
      if (a && b && a.shown === b.shown && a.tool?.pin === b.tool?.pin) continue;
      if (!a) changes.push({ agent, facet, change: 'added', after: b!.shown, direction: onAdded(b!) });
      else if (!b) changes.push({ agent, facet, change: 'removed', before: a.shown, direction: onRemoved(a) });
      else changes.push({ agent, facet, change: 'changed', before: a.shown, after: b.shown, direction: compare(a, b) });
    }
  }
  return { changes, widened: changes.some((change) => change.direction === 'widens') };
}

function onAdded(facet: Facet): Direction {
  if (facet.kind === 'gate') return 'narrows';
  // A ceiling that appears caps what was unlimited.
  if (facet.kind === 'ceiling') return 'narrows';
  return facet.kind === 'fact' ? 'changes' : 'widens';
}

function onRemoved(facet: Facet): Direction {
  if (facet.kind === 'fact') return 'changes';
  return facet.kind === 'gate' || facet.kind === 'ceiling' ? 'widens' : 'narrows';
}

function compare(a: Facet, b: Facet): Direction {
  if (a.kind === 'tool' && a.tool && b.tool) return compareTools(a.tool, b.tool);
  if (a.amount !== undefined && b.amount !== undefined && a.amount !== b.amount) {
    // A higher ceiling or an enabled agent lets more through; a higher gate severity holds more back.
    const up = b.amount > a.amount;
    return a.kind === 'gate' ? (up ? 'narrows' : 'widens') : up ? 'widens' : 'narrows';
  }
  return 'changes';
}

/** A tool widens when it loses its destructive flag, becomes read-only, waits for fewer reasons or is rate-limited less. */
function compareTools(a: NonNullable<Facet['tool']>, b: NonNullable<Facet['tool']>): Direction {
  const widens =
    (a.destructive && !b.destructive) ||
    (!a.readOnly && b.readOnly) ||
    (a.approval ?? []).some((reason) => !(b.approval ?? []).includes(reason)) ||
    (a.rateLimitPerMinute !== undefined &&
      (b.rateLimitPerMinute === undefined || b.rateLimitPerMinute > a.rateLimitPerMinute));
  if (widens) return 'widens';
  const narrows =
    (!a.destructive && b.destructive) ||
    (a.readOnly && !b.readOnly) ||
    (b.approval ?? []).some((reason) => !(a.approval ?? []).includes(reason)) ||
    (b.rateLimitPerMinute !== undefined &&
      (a.rateLimitPerMinute === undefined || b.rateLimitPerMinute < a.rateLimitPerMinute));
  return narrows ? 'narrows' : 'changes';
}

/** A new or deleted agent in one line: its tools and ways in. */
function summary(profile: AccessProfile): string {
  const tools = [...profile.keys()].filter((key) => key.startsWith('tool ')).map((key) => key.slice(5));
  const triggers = [...profile.keys()].filter((key) => key.startsWith('trigger ')).map((key) => key.slice(8));
  return `${tools.length} tool${tools.length === 1 ? '' : 's'}${tools.length ? ` (${tools.join(', ')})` : ''}; triggers: ${triggers.join(', ') || 'API only'}`;
}

const AREAS = [
  'enabled',
  'tool',
  'approval',
  'release',
  'guardrail',
  'limit',
  'rate',
  'budget',
  'trigger',
  'sandbox',
  'subagent',
  'model',
  'fallback',
  'instructions',
  'skill',
];

/** Facets in a stable reading order: what the agent can do first, then what holds it, then what it is. */
function byArea(a: string, b: string): number {
  const area = (key: string) => {
    const index = AREAS.indexOf(key.split(' ')[0]!);
    return index < 0 ? AREAS.length : index;
  };
  return area(a) - area(b) || a.localeCompare(b);
}
