import { posix } from 'node:path';
import { parse as parseYamlText } from 'yaml';
import * as z from './zod.ts';
import type { AgentSpec } from './agent.ts';
import type { AgentEntry, InstructionsDoc, ModelEntry, SkillDoc } from './catalog.ts';
import { sha256 } from './hash.ts';
import { LOCK_FILE, lockKey, skillLockKey } from './lock-file.ts';
import type { McpServerDeclaration } from './org.ts';
import { readableToolName, TOOL_NAME_SEPARATOR } from './context.ts';
import { splitFrontMatter } from './front-matter.ts';
import type { OrgFile, Validation } from './org-validation.ts';
import { sameVersion, type VersionedRef } from './primitives.ts';
import type { SkillPin } from './skills.ts';
import type { ParsedYaml } from './yaml-source.ts';
import { parseRange, parseVersion, RANGE_HELP, satisfies } from '../skills/semver.ts';
import { grantAllows, normalizeGrant, grantedTools } from '../policy/grants.ts';
import { writeToolsOf } from '../policy/checker-read-only.ts';
import { matchesToolPattern } from '../policy/tool-patterns.ts';
import { sandboxGrantProblems } from '../policy/sandbox-grants.ts';
import { verifyCheckProblems } from '../policy/verify-checks.ts';
import { verifyReleaseProblems } from '../policy/verify-release.ts';

/** The references of one agent definition: models, instructions, skills, grants, sub-agents, rules. */

/** What an agent's references are checked against: the org's other declarations. */
export interface AgentContext {
  servers: Record<string, McpServerDeclaration>;
  invalidServers: Set<string>;
  models: Record<string, ModelEntry>;
  modelsUnreadable: boolean;
  modelsWhere: string;
  skills: Record<string, SkillDoc>;
  /** `looprail lock` resolves skill ranges itself, against the registry. */
  lockMode: boolean;
}

/** One agent definition, as read. */
interface AgentRefs {
  v: Validation;
  parsed: ParsedYaml;
  file: OrgFile;
  spec: AgentSpec;
  ctx: AgentContext;
}

/** The references of one agent definition; returns its catalog entry when they all resolve. */
export function checkAgent(
  v: Validation,
  parsed: ParsedYaml,
  file: OrgFile,
  spec: AgentSpec,
  ctx: AgentContext,
): Omit<AgentEntry, 'trigger'> | undefined {
  const agent: AgentRefs = { v, parsed, file, spec, ctx };
  const before = v.problems.filter((p) => p.severity === 'error').length;
  checkModel(agent, ['agent', 'model'], spec.model);
  checkModel(agent, ['agent', 'fallback_model'], spec.fallback_model);
  checkModel(agent, ['agent', 'harness', 'context', 'compaction_model'], spec.harness.context?.compaction_model);
  const instructions = loadInstructions(v, parsed, ['agent', 'instructions'], file.path, spec.instructions);
  const skillPins = resolveSkillPins(agent);
  checkGrants(agent, ['agent', 'mcp_servers'], spec.mcp_servers);
  const subagentInstructions = checkSubagents(agent);
  checkVerify(agent);
  checkApprovalRules(agent);
  for (const problem of sandboxGrantProblems(spec)) v.at(parsed, problem.path, problem.message, problem.severity);
  for (const problem of [
    ...verifyCheckProblems(spec, ctx.servers, ctx.invalidServers),
    ...verifyReleaseProblems(spec, ctx.servers, ctx.invalidServers),
  ])
    v.at(parsed, problem.path, problem.message);

  const after = v.problems.filter((p) => p.severity === 'error').length;
  if (after > before || !instructions) return undefined;
  return { file: file.display, spec, instructions, subagentInstructions, skillPins };
}

function checkModel({ v, parsed, ctx }: AgentRefs, path: PropertyKey[], name: string | undefined): void {
  if (name !== undefined && !ctx.models[name] && !ctx.modelsUnreadable)
    v.at(parsed, path, `unknown model "${name}" (not in ${ctx.modelsWhere})`);
}

/** Skills come from the registry: a pin is a range that `looprail lock` resolved to one published version. */
function resolveSkillPins({ v, parsed, spec, ctx }: AgentRefs): SkillPin[] {
  const skillPins: SkillPin[] = [];
  for (const [index, ref] of spec.skills.entries()) {
    const path = ['agent', 'skills', index];
    const range = parseRange(ref.version);
    if (!range) {
      v.at(parsed, path, `"${ref.version}" is not a version range for skill ${ref.target}: expected ${RANGE_HELP}`);
      continue;
    }
    if (ctx.lockMode) continue;
    // Without a lock file (as for instructions) nothing is locked yet: runs resolve the range when they start.
    if (!v.lock) {
      skillPins.push({ name: ref.target, range: ref.version });
      continue;
    }
    const key = skillLockKey(ref.target, ref.version);
    const locked = v.lock.skills[key];
    if (!locked) {
      const fix = 'run `looprail lock` (it resolves the range against the skills registry)';
      v.at(parsed, path, `skill ${key} is not resolved in ${LOCK_FILE}: ${fix}`);
    } else if (!satisfies(parseVersion(locked.version)!, range)) {
      v.at(
        parsed,
        path,
        `skill ${key} is locked to ${locked.version}, which is outside that range: run \`looprail lock\` again`,
      );
    } else {
      skillPins.push({ name: ref.target, range: ref.version, version: locked.version, sha256: locked.sha256 });
    }
  }
  return skillPins;
}

function checkGrants({ v, parsed, ctx }: AgentRefs, base: PropertyKey[], inputs: AgentSpec['mcp_servers']): void {
  inputs.forEach((input, index) => {
    const grant = normalizeGrant(input);
    const path = typeof input === 'string' ? [...base, index] : [...base, index, 'name'];
    const server = ctx.servers[grant.server];
    if (!server) {
      if (!ctx.invalidServers.has(grant.server))
        v.at(parsed, path, `unknown MCP server "${grant.server}" (no mcp-servers/${grant.server}.yaml)`);
      return;
    }
    const matchesSome = (pattern: string) =>
      Object.keys(server.tools).some((tool) => grantAllows({ server: grant.server, allow: [pattern] }, tool));
    for (const key of ['allow', 'deny'] as const) {
      grant[key]?.forEach((pattern, patternIndex) => {
        if (matchesSome(pattern)) return;
        // `team-memory.create_entities` or `team-memory__create_entities` where `create_entities` is
        // meant: a deny that matches nothing leaves the tool allowed, so the mistake is an error.
        const prefix = [`${grant.server}.`, `${grant.server}${TOOL_NAME_SEPARATOR}`].find((p) => pattern.startsWith(p));
        const bare = prefix && pattern.slice(prefix.length);
        if (bare && matchesSome(bare))
          v.at(
            parsed,
            [...base, index, key, patternIndex],
            `"${pattern}" names no tool: ${key} lists the tools of ${grant.server} without the server, as mcp-servers/${grant.server}.yaml declares them: write "${bare}"`,
          );
        else
          v.at(
            parsed,
            [...base, index, key, patternIndex],
            `"${pattern}" matches no tool declared on ${grant.server}`,
            'warning',
          );
      });
    }
  });
}

/** Each sub-agent's references; returns the instructions of those that bring their own. */
function checkSubagents(agent: AgentRefs): Record<string, InstructionsDoc> {
  const { v, parsed, file, spec, ctx } = agent;
  const subagentInstructions: Record<string, InstructionsDoc> = {};
  const seen = new Set<string>();
  spec.subagents.forEach((sub, index) => {
    const base = ['agent', 'subagents', index];
    if (seen.has(sub.name)) v.at(parsed, [...base, 'name'], `duplicate sub-agent name "${sub.name}"`);
    seen.add(sub.name);
    checkModel(agent, [...base, 'model'], sub.model);
    checkGrants(agent, [...base, 'mcp_servers'], sub.mcp_servers);
    if (sub.agent !== undefined) {
      // An org agent brings its own definition: nothing here may quietly differ from it.
      const own: string[] = (['model', 'instructions', 'harness', 'role'] as const).filter(
        (key) => sub[key] !== undefined,
      );
      if (sub.mcp_servers.length > 0) own.push('mcp_servers');
      if (own.length > 0)
        v.at(
          parsed,
          [...base, 'agent'],
          `sub-agent "${sub.name}" runs agent "${sub.agent}" with its own definition; remove ${own.join(', ')} here`,
        );
      if (spec.verify?.checker === sub.name)
        v.at(
          parsed,
          [...base, 'agent'],
          `the checker "${sub.name}" must be declared here (model, instructions, read-only tools), not run another agent`,
        );
    }
    if (sub.instructions) {
      const doc = loadInstructions(v, parsed, [...base, 'instructions'], file.path, sub.instructions);
      if (doc) subagentInstructions[sub.name] = doc;
    }
    const isChecker = sub.role === 'checker' || spec.verify?.checker === sub.name;
    if (isChecker) {
      const writes = writeToolsOf(sub.mcp_servers.map(normalizeGrant), ctx.servers);
      if (writes.length > 0) {
        v.at(
          parsed,
          [...base, 'mcp_servers'],
          `checker "${sub.name}" may only hold read-only tools, but is granted ${writes.join(', ')} (deny them, or declare them read_only in their server file if they truly are)`,
        );
      }
    }
  });
  return subagentInstructions;
}

function checkVerify({ v, parsed, spec }: AgentRefs): void {
  if (!spec.verify) return;
  const checker = spec.subagents.find((sub) => sub.name === spec.verify!.checker);
  if (!checker)
    v.at(
      parsed,
      ['agent', 'verify', 'checker'],
      `unknown sub-agent "${spec.verify.checker}": declare it under agent.subagents`,
    );
  else if (checker.role === 'maker')
    v.at(
      parsed,
      ['agent', 'verify', 'checker'],
      `"${checker.name}" is declared role: maker; a checker must be role: checker (or leave role out)`,
    );
}

function checkApprovalRules({ v, parsed, spec, ctx }: AgentRefs): void {
  const reachable = grantedTools(spec.mcp_servers.map(normalizeGrant), ctx.servers);
  const matchesSome = (pattern: string) =>
    reachable.some((tool) => matchesToolPattern(pattern, tool.server, tool.tool));
  for (const pattern of Object.keys(spec.approvals)) {
    // `server__tool` is how models call a tool; a rule written so would never pause anything.
    const readable = readableToolName(pattern);
    if (!matchesSome(pattern) && !pattern.includes('.') && readable !== pattern && matchesSome(readable)) {
      v.at(
        parsed,
        ['agent', 'approvals', pattern],
        `approval rule "${pattern}" names the tool as models call it, so it would pause nothing: approval rules name tools as traces and the inventory do, server.tool: write "${readable}"`,
      );
    } else if (!matchesSome(pattern)) {
      v.at(
        parsed,
        ['agent', 'approvals', pattern],
        `approval rule "${pattern}" matches no tool this agent is granted`,
        'warning',
      );
    }
  }
}

const InstructionsFrontMatter = z.looseObject({
  version: z.optional(z.pipe(z.union([z.string(), z.number()]), z.transform(String))),
});

function loadInstructions(
  v: Validation,
  parsed: ParsedYaml,
  fieldPath: PropertyKey[],
  agentPath: string,
  ref: VersionedRef,
): InstructionsDoc | undefined {
  const resolved = posix.normalize(posix.join(posix.dirname(agentPath), ref.target));
  const file = v.file(resolved);
  if (!file) {
    v.at(parsed, fieldPath, `instructions file "${ref.target}" not found (looked for ${resolved} in the org folder)`);
    return undefined;
  }
  const { frontMatter, body } = splitFrontMatter(file.text);
  if (frontMatter !== undefined) {
    const meta = InstructionsFrontMatter.safeParse(safeYaml(frontMatter));
    const declared = meta.success ? meta.data.version : undefined;
    if (declared !== undefined && !sameVersion(declared, ref.version)) {
      v.at(parsed, fieldPath, `pinned @${ref.version}, but ${resolved} declares version ${declared}`);
      return undefined;
    }
  }
  if (body.trim() === '') {
    v.at(parsed, fieldPath, `instructions file ${resolved} is empty`);
    return undefined;
  }
  const hash = sha256(file.text);
  // A version names one content: once locked, changing the file needs a new version.
  if (v.lock) {
    const locked = v.lock.instructions[lockKey(resolved, ref.version)];
    if (locked === undefined) {
      v.at(parsed, fieldPath, `${resolved}@${ref.version} is not in ${LOCK_FILE}: run \`looprail lock\` to record it`);
      return undefined;
    }
    if (locked !== `sha256:${hash}`) {
      v.at(
        parsed,
        fieldPath,
        `${resolved} changed since version ${ref.version} was locked: give it a new version (and pin @that here), then run \`looprail lock\``,
      );
      return undefined;
    }
  }
  return { path: ref.target, file: resolved, version: ref.version, text: body.trim(), sha256: hash };
}

function safeYaml(text: string): unknown {
  try {
    return parseYamlText(text);
  } catch {
    return undefined;
  }
}
