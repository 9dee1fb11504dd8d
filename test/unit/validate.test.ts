import { describe, expect, it } from 'vitest';
import { formatProblem, type Problem } from '../../core/definitions/problems.ts';
import type { OrgFile } from '../../core/definitions/org-validation.ts';
import { validateOrg } from '../../core/definitions/validate.ts';
import { orgFiles } from '../support/org-files.ts';

const BRIEF = orgFiles('test/fixtures/brief-org');
const DEMO = orgFiles('agents');

function validate(files: Map<string, string>, overrides: Record<string, string | null> = {}) {
  const merged = new Map(files);
  for (const [path, text] of Object.entries(overrides)) {
    if (text === null) merged.delete(path);
    else merged.set(path, text);
  }
  const orgFiles: OrgFile[] = [...merged].map(([path, text]) => ({ path, display: path, text }));
  return validateOrg(orgFiles);
}

const errors = (problems: Problem[]) => problems.filter((p) => p.severity === 'error').map(formatProblem);

describe("the product brief's agent definition", () => {
  it('validates verbatim once the names it references are declared', () => {
    const result = validate(BRIEF);
    expect(errors(result.problems)).toEqual([]);
    const agent = result.catalog!.agents['morning-triage-loop']!;
    expect(agent.spec.harness.max_tokens_per_run).toBe(1_500_000);
    expect(agent.spec.harness.max_steps).toBe(60);
    expect(agent.spec.skills).toEqual([{ target: 'ci-triage-runbook', version: 'v2' }]);
    expect(agent.instructions).toMatchObject({ path: './triage.md', version: 'v4' });
    expect(agent.trigger?.schedule).toEqual({ expression: 'cron(0 6 ? * MON-FRI *)', timezone: 'UTC' });
    expect(agent.spec.approvals).toEqual({ merge_pr: 'pause_for_human' });
    expect(agent.spec.subagents.map((s) => s.name)).toEqual(['fix-drafter', 'fix-reviewer']);
  });

  it('warns, without failing, that the loop has no owner', () => {
    const warnings = validate(BRIEF).problems.filter((p) => p.severity === 'warning');
    expect(warnings.map(formatProblem)).toEqual([
      'morning-triage-loop.yaml:2:9: warning: agent.name: no owner or team: the inventory will list this loop as unowned',
    ]);
  });
});

describe('the demo org', () => {
  it('is valid', () => {
    expect(validate(DEMO).problems).toEqual([]);
  });
});

describe('Bedrock model ids', () => {
  const withModel = (modelId: string) =>
    validate(DEMO, {
      'models.yaml': `${DEMO.get('models.yaml')!}\n  extra:\n    provider: bedrock\n    model_id: ${modelId}\n    price: { input_per_mtok: 3, output_per_mtok: 15 }\n`,
    }).problems.map(formatProblem);

  it('warns, naming the profile to use, when a Claude model Bedrock serves only through an inference profile is given bare', () => {
    const line = DEMO.get('models.yaml')!.split('\n').length + 3;
    for (const bare of [
      'anthropic.claude-sonnet-4-6',
      'anthropic.claude-opus-4-6-v1',
      'anthropic.claude-sonnet-4-5-20250929-v1:0',
    ])
      expect(withModel(bare)).toEqual([
        `models.yaml:${line}:15: warning: models.extra.model_id: Bedrock serves ${bare} on demand only through an inference profile: use "us.${bare}" (or the eu., apac., jp. or global. profile), or an inference profile ARN`,
      ]);
  });

  it('takes inference profiles, ARNs and models Bedrock serves on demand as they are', () => {
    for (const id of [
      'us.anthropic.claude-sonnet-4-6',
      'global.anthropic.claude-opus-4-6-v1',
      'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123',
      'anthropic.claude-3-haiku-20240307-v1:0',
      'amazon.nova-pro-v1:0',
    ])
      expect(withModel(id), id).toEqual([]);
  });
});

const AGENT = 'morning-triage-loop.yaml';
const brief = BRIEF.get(AGENT)!;

describe('bad definitions: every problem at once, with file, line, field and what was expected', () => {
  it('reports a typo in a key with a suggestion, and a wrong type, in one pass', () => {
    const text = brief
      .replace('max_steps: 60', 'max_step: 60')
      .replace('max_tokens_per_run: 1_500_000', 'max_tokens_per_run: lots');
    const result = validate(BRIEF, { [AGENT]: text });
    expect(result.catalog).toBeUndefined();
    expect(errors(result.problems)).toEqual([
      'morning-triage-loop.yaml:11:5: agent.harness.max_step: unknown key "max_step" (did you mean "max_steps"?)',
      'morning-triage-loop.yaml:12:25: agent.harness.max_tokens_per_run: expected a positive whole number (underscores allowed, e.g. 1_500_000)',
    ]);
  });

  it('names a missing required field', () => {
    const result = validate(BRIEF, { [AGENT]: brief.replace(/^ {2}model: .*\n/m, '') });
    expect(errors(result.problems)).toEqual([
      'morning-triage-loop.yaml:2:3: agent.model: expected a name (lower-case letters, digits and hyphens) (this field is required)',
    ]);
  });

  it('reports malformed YAML with its position, never a stack trace', () => {
    const result = validate(BRIEF, { [AGENT]: 'agent:\n  name: x\n  model: [unclosed\n' });
    expect(result.problems).toHaveLength(1);
    expect(formatProblem(result.problems[0]!)).toMatch(/^morning-triage-loop\.yaml:\d+:\d+: not valid YAML: /);
  });

  it('reports an empty file, a comment-only file, and a file that is not YAML at all', () => {
    expect(errors(validate(BRIEF, { [AGENT]: '' }).problems)).toEqual([
      'morning-triage-loop.yaml:1:1: the file is empty; expected an agent definition with a top-level `agent:` key',
    ]);
    expect(errors(validate(BRIEF, { [AGENT]: '# just a comment\n' }).problems)[0]).toContain('the file is empty');
    expect(errors(validate(BRIEF, { [AGENT]: 'This is a README, not a definition.\n' }).problems)).toEqual([
      'morning-triage-loop.yaml:1:1: found a string at the top level; expected an agent definition with a top-level `agent:` key (is this a YAML file?)',
    ]);
    expect(errors(validate(BRIEF, { [AGENT]: '\u0000\u0001\u0002binary' }).problems)[0]).toContain(
      'not a YAML file (binary content)',
    );
    expect(errors(validate(BRIEF, { [AGENT]: '- a\n- b\n' }).problems)[0]).toContain('found a list at the top level');
  });

  it('rejects two documents in one file and duplicate keys', () => {
    expect(errors(validate(BRIEF, { [AGENT]: `${brief}\n---\nagent: {}\n` }).problems)[0]).toMatch(
      /:\d+:\d+: found 2 YAML documents; expected one document per file/,
    );
    expect(
      errors(validate(BRIEF, { [AGENT]: brief.replace('  harness:', '  model: other\n  harness:') }).problems)[0],
    ).toMatch(/not valid YAML: Map keys must be unique/);
  });

  it('checks references across files: model, skill, server, instructions, secret', () => {
    const text = brief
      .replace('model: claude-sonnet-4-6', 'model: gpt-9')
      .replace('ci-triage-runbook@v2', 'ci-runbook@v2')
      .replace('[github, ci, linear]', '[github, ci, jira]')
      .replace('./triage.md@v4', './missing.md@v4');
    const result = validate(BRIEF, { [AGENT]: text });
    expect(errors(result.problems)).toEqual([
      'morning-triage-loop.yaml:3:10: agent.model: unknown model "gpt-9" (not in models.yaml)',
      'morning-triage-loop.yaml:4:17: agent.instructions: instructions file "./missing.md" not found (looked for missing.md in the org folder)',
      'morning-triage-loop.yaml:6:29: agent.mcp_servers[2]: unknown MCP server "jira" (no mcp-servers/jira.yaml)',
    ]);
  });

  it('checks version pins of skills and instructions', () => {
    const result = validate(BRIEF, {
      [AGENT]: brief
        .replace('ci-triage-runbook@v2', 'ci-triage-runbook@2.x')
        .replace('./triage.md@v4', './triage.md@v5'),
    });
    expect(errors(result.problems)).toEqual([
      'morning-triage-loop.yaml:4:17: agent.instructions: pinned @v5, but triage.md declares version v4',
      'morning-triage-loop.yaml:5:12: agent.skills[0]: "2.x" is not a version range for skill ci-triage-runbook: expected an exact version (1.2.3), ^1.2.3, ~1.2.3, >=1.2.3, or a major version (2 or v2)',
    ]);
    expect(
      errors(validate(BRIEF, { [AGENT]: brief.replace('ci-triage-runbook@v2', 'ci-triage-runbook') }).problems)[0],
    ).toContain('agent.skills[0]: expected a skill as name@version or name@range');
    expect(errors(validate(BRIEF, { [AGENT]: brief.replace('./triage.md@v4', './triage.md') }).problems)[0]).toContain(
      'agent.instructions: expected a file@version (the version pin is required, e.g. @v1)',
    );
  });

  it('refuses a secret that is not declared', () => {
    const result = validate(BRIEF, {
      'models.yaml':
        'models:\n  claude-sonnet-4-6:\n    provider: anthropic\n    secret: anthropic-key\n    price: { input_per_mtok: 3, output_per_mtok: 15 }\n',
    });
    expect(errors(result.problems)).toEqual([
      'models.yaml:4:13: models.claude-sonnet-4-6.secret: unknown secret "anthropic-key": declare it by name in secrets.yaml (never its value)',
    ]);
  });

  it('refuses a checker that is granted a write tool', () => {
    const text = brief.replace(
      '{ name: fix-reviewer, mcp_servers: [] }',
      '{ name: fix-reviewer, role: checker, mcp_servers: [github] }',
    );
    const result = validate(BRIEF, { [AGENT]: text });
    expect(errors(result.problems)).toEqual([
      'morning-triage-loop.yaml:9:57: agent.subagents[1].mcp_servers: checker "fix-reviewer" may only hold read-only tools, but is granted github.create_entities, github.merge_pr (deny them, or declare them read_only in their server file if they truly are)',
    ]);
    // Narrowed to read-only tools, the same checker is fine.
    const narrowed = brief.replace(
      '{ name: fix-reviewer, mcp_servers: [] }',
      '{ name: fix-reviewer, role: checker, mcp_servers: [{ name: github, allow: [search_nodes] }] }',
    );
    expect(errors(validate(BRIEF, { [AGENT]: narrowed }).problems)).toEqual([]);
  });

  it('refuses a schedule that EventBridge Scheduler would reject', () => {
    const cases: Array<[string, string]> = [
      ['"0 6 * * 1-5 *"', 'a cron expression has 5 fields'],
      ['"0 25 * * *"', 'hours value 25 is outside 0-23'],
      ['"0 6 1 * 1"', 'restricts both day-of-month and day-of-week'],
      ['"cron(0 6 * * MON-FRI *)"', 'exactly one of day-of-month and day-of-week must be "?"'],
      ['"rate(1 minutes)"', 'write "rate(1 minute)"'],
      ['"rate(5 fortnights)"', 'a rate is "rate(N minutes|hours|days)"'],
      ['{ cron: "0 6 * * *", timezone: Mars/Olympus }', 'expected an IANA time zone'],
    ];
    for (const [schedule, message] of cases) {
      const result = validate(BRIEF, { [AGENT]: brief.replace('"0 6 * * 1-5"', schedule) });
      const found = errors(result.problems);
      expect(found, schedule).toHaveLength(1);
      expect(found[0], schedule).toContain('trigger.schedule');
      expect(found[0], schedule).toContain(message);
    }
  });

  it('accepts the schedule spellings Scheduler understands', () => {
    const cases: Array<[string, string]> = [
      ['"cron(0 6 ? * MON-FRI *)"', 'cron(0 6 ? * MON-FRI *)'],
      ['"rate(15 minutes)"', 'rate(15 minutes)'],
      ['"*/15 8-18 * * 0,6"', 'cron(*/15 8-18 ? * SUN,SAT *)'],
      ['"30 2 1 * *"', 'cron(30 2 1 * ? *)'],
      ['"0 9 * * 7"', 'cron(0 9 ? * SUN *)'],
    ];
    for (const [schedule, expression] of cases) {
      const result = validate(BRIEF, { [AGENT]: brief.replace('"0 6 * * 1-5"', schedule) });
      expect(errors(result.problems), schedule).toEqual([]);
      expect(result.catalog!.agents['morning-triage-loop']!.trigger!.schedule!.expression).toBe(expression);
    }
  });

  it('refuses a webhook filter it does not know', () => {
    const result = validate(BRIEF, {
      [AGENT]: brief.replace(
        'trigger: { schedule: "0 6 * * 1-5" }',
        'trigger: { schedule: "0 6 * * 1-5", webhook: { secret: hook, filter: { event: push, brnach: main } } }',
      ),
      'secrets.yaml': 'secrets:\n  hook: {}\n',
    });
    expect(errors(result.problems)).toEqual([
      'morning-triage-loop.yaml:14:93: trigger.webhook.filter.brnach: unknown webhook filter "brnach"; expected event, action, branch, tag, label, repository, sender',
    ]);
  });

  it('with a lock file, refuses instructions changed under a locked version, and a version not locked yet', async () => {
    const { sha256 } = await import('../../core/definitions/hash.ts');
    const triage = BRIEF.get('triage.md')!;
    const skills = `skills:\n  ci-triage-runbook@v2: { version: 2.0.0, sha256: sha256:${'a'.repeat(64)} }\n`;
    const lock = (hash: string) => `instructions:\n  triage.md@v4: sha256:${hash}\n${skills}`;
    expect(errors(validate(BRIEF, { 'looprail.lock.yaml': lock(sha256(triage)) }).problems)).toEqual([]);
    expect(
      errors(
        validate(BRIEF, { 'looprail.lock.yaml': lock(sha256(triage)), 'triage.md': `${triage}One more line.\n` })
          .problems,
      ),
    ).toEqual([
      'morning-triage-loop.yaml:4:17: agent.instructions: triage.md changed since version v4 was locked: give it a new version (and pin @that here), then run `looprail lock`',
    ]);
    expect(errors(validate(BRIEF, { 'looprail.lock.yaml': `instructions: {}\n${skills}` }).problems)).toEqual([
      'morning-triage-loop.yaml:4:17: agent.instructions: triage.md@v4 is not in looprail.lock.yaml: run `looprail lock` to record it',
    ]);
    expect(
      errors(validate(BRIEF, { 'looprail.lock.yaml': 'instructions:\n  triage.md@v4: md5:abc\n' }).problems)[0],
    ).toContain('expected sha256: and 64 hex digits');
  });

  it('with a lock file, takes each skill pin as locked: refuses one not resolved yet, or locked outside its range', async () => {
    const { sha256 } = await import('../../core/definitions/hash.ts');
    const instructions = `instructions:\n  triage.md@v4: sha256:${sha256(BRIEF.get('triage.md')!)}\n`;
    const hash = `sha256:${'b'.repeat(64)}`;
    const locked = validate(BRIEF, {
      'looprail.lock.yaml': `${instructions}skills:\n  ci-triage-runbook@v2: { version: 2.3.1, sha256: "${hash}" }\n`,
    });
    expect(errors(locked.problems)).toEqual([]);
    expect(locked.catalog!.agents['morning-triage-loop']!.skillPins).toEqual([
      { name: 'ci-triage-runbook', range: 'v2', version: '2.3.1', sha256: hash },
    ]);

    expect(errors(validate(BRIEF, { 'looprail.lock.yaml': instructions }).problems)).toEqual([
      'morning-triage-loop.yaml:5:12: agent.skills[0]: skill ci-triage-runbook@v2 is not resolved in looprail.lock.yaml: run `looprail lock` (it resolves the range against the skills registry)',
    ]);
    expect(
      errors(
        validate(BRIEF, {
          'looprail.lock.yaml': `${instructions}skills:\n  ci-triage-runbook@v2: { version: 3.0.0, sha256: "${hash}" }\n`,
        }).problems,
      ),
    ).toEqual([
      'morning-triage-loop.yaml:5:12: agent.skills[0]: skill ci-triage-runbook@v2 is locked to 3.0.0, which is outside that range: run `looprail lock` again',
    ]);
    expect(
      errors(
        validate(BRIEF, {
          'looprail.lock.yaml': `${instructions}skills:\n  ci-triage-runbook@v2: { version: two, sha256: "${hash}" }\n`,
        }).problems,
      )[0],
    ).toContain('skills.ci-triage-runbook@v2.version: expected a semantic version MAJOR.MINOR.PATCH');
    // Without a lock file nothing is locked yet: the pin stays a range, resolved when a run starts.
    expect(validate(BRIEF).catalog!.agents['morning-triage-loop']!.skillPins).toEqual([
      { name: 'ci-triage-runbook', range: 'v2' },
    ]);
  });

  it('checks skill sources and the skills policy: semantic versions, owners per skill', () => {
    expect(
      errors(
        validate(BRIEF, {
          'skills/ci-triage-runbook/SKILL.md': '---\nname: ci-triage-runbook\ndescription: d\nversion: v2\n---\nbody\n',
        }).problems,
      ),
    ).toEqual([
      'skills/ci-triage-runbook/SKILL.md:4:10: version: expected a semantic version MAJOR.MINOR.PATCH, such as 1.2.0',
    ]);
    const policy = validate(BRIEF, {
      'skills.yaml': 'skills:\n  ci-triage-runbook: { owners: [noor@example.com, "local:*"], team: platform }\n',
    });
    expect(errors(policy.problems)).toEqual([]);
    expect(policy.catalog!.skillsPolicy!.skills['ci-triage-runbook']!.owners).toEqual(['noor@example.com', 'local:*']);
    expect(
      errors(
        validate(BRIEF, {
          'skills.yaml': 'skills:\n  ci-triage-runbook: { owners: [] }\n  Bad_Name: { owners: [x] }\n',
        }).problems,
      ),
    ).toEqual([expect.stringContaining('skills.yaml:2:'), expect.stringContaining('skills.yaml:3:')]);
  });

  it('checks sub-agents that run another agent of the org: it must exist, bring its own definition, and not be the checker', () => {
    const reviewer = '    - { name: fix-reviewer, mcp_servers: [] }      # checker ≠ maker, read-only\n';
    const withSub = (sub: string, extra = '') =>
      brief.replace(reviewer, `${reviewer}    - ${sub}\n`).replace('  approvals:', `${extra}  approvals:`);
    expect(
      errors(validate(BRIEF, { [AGENT]: withSub('{ name: deputy, agent: morning-triage-loop }') }).problems),
    ).toEqual([]);
    expect(errors(validate(BRIEF, { [AGENT]: withSub('{ name: deputy, agent: nobody }') }).problems)).toEqual([
      expect.stringMatching(/agent\.subagents\[2\]\.agent: unknown agent "nobody" \(known: morning-triage-loop\)$/),
    ]);
    expect(
      errors(
        validate(BRIEF, {
          [AGENT]: withSub('{ name: deputy, agent: morning-triage-loop, model: claude-sonnet-4-6, mcp_servers: [ci] }'),
        }).problems,
      ),
    ).toEqual([
      expect.stringMatching(
        /agent\.subagents\[2\]\.agent: sub-agent "deputy" runs agent "morning-triage-loop" with its own definition; remove model, mcp_servers here$/,
      ),
    ]);
    expect(
      errors(
        validate(BRIEF, {
          [AGENT]: withSub('{ name: deputy, agent: morning-triage-loop }', '  verify: { checker: deputy }\n'),
        }).problems,
      ),
    ).toEqual([
      expect.stringMatching(
        /agent\.subagents\[2\]\.agent: the checker "deputy" must be declared here \(model, instructions, read-only tools\), not run another agent$/,
      ),
    ]);
    expect(
      errors(
        validate(BRIEF, { [AGENT]: brief.replace('    max_steps: 60', '    max_steps: 60\n    max_depth: 0') })
          .problems,
      )[0],
    ).toContain('harness.max_depth: expected a number greater than 0');
  });

  it('refuses duplicate agent names across files', () => {
    const result = validate(BRIEF, { 'copy.yaml': brief });
    expect(errors(result.problems)).toEqual([
      'copy.yaml:2:9: agent.name: duplicate agent name "morning-triage-loop" (also defined in morning-triage-loop.yaml)',
    ]);
  });

  it('reports problems in org files too: a model without a price, a server with an inline-looking key, a budget for an unknown team', () => {
    const result = validate(BRIEF, {
      'models.yaml': 'models:\n  claude-sonnet-4-6:\n    provider: scripted\n    script: scripts/brief-triage.yaml\n',
      'mcp-servers/linear.yaml':
        'name: linear\ntransport: { type: http, url: "https://mcp.linear.example/mcp" }\nauth: { token: abc }\ntools: {}\n',
      'budgets.yaml':
        'budgets:\n  - { name: b, team: platform, period: month, limit_usd: 5 }\n  - { name: c, period: week }\n',
    });
    expect(errors(result.problems)).toEqual([
      'budgets.yaml:3:5: budgets[1]: expected exactly one scope: agent, team, user or model',
      'budgets.yaml:3:5: budgets[1]: expected limit_usd, limit_tokens or both',
      'mcp-servers/linear.yaml:3:7: auth.secret: expected a secret name (this field is required)',
      'mcp-servers/linear.yaml:3:9: auth.token: unknown key "token"; expected one of: secret, header, scheme',
      'models.yaml:3:5: models.claude-sonnet-4-6.price: expected object (this field is required)',
    ]);
  });

  it('checks what budgets refer to', () => {
    const result = validate(BRIEF, {
      'budgets.yaml':
        'budgets:\n  - { name: b, team: nobody, period: month, limit_usd: 5 }\n  - { name: m, model: gpt-9, period: day, limit_tokens: 1_000 }\nlimits:\n  - { agent: ghost, max_concurrent_runs: 1 }\n',
    });
    expect(errors(result.problems)).toEqual([
      'budgets.yaml:2:22: budgets[0].team: unknown team "nobody": no agent declares it',
      'budgets.yaml:3:23: budgets[1].model: unknown model "gpt-9" (not in models.yaml)',
      'budgets.yaml:5:14: limits[0].agent: unknown agent "ghost"',
    ]);
  });

  it('refuses a verify block naming an undeclared checker, and a skill whose folder and name disagree', () => {
    const result = validate(BRIEF, {
      [AGENT]: brief.replace('  approvals:', '  verify: { checker: reviewer }\n  approvals:'),
      'skills/ci-triage-runbook/SKILL.md': '---\nname: other-name\ndescription: d\nversion: 2.0.0\n---\nbody\n',
    });
    expect(errors(result.problems)).toEqual([
      'morning-triage-loop.yaml:13:22: agent.verify.checker: unknown sub-agent "reviewer": declare it under agent.subagents',
      'skills/ci-triage-runbook/SKILL.md:2:7: name: expected "ci-triage-runbook": a skill\'s name is its folder\'s name',
    ]);
  });
});

describe('approval reminders and escalation in the agent definition', () => {
  const withRule = (rule: string) =>
    validate(BRIEF, { [AGENT]: brief.replace('{ merge_pr: pause_for_human }', `{ merge_pr: ${rule} }`) });

  it('accepts remind_before and escalate_after shorter than the timeout, with escalate_to', () => {
    const result = withRule(
      '{ approvers: [lead@example.com], timeout: 8h, remind_before: 1h, escalate_after: 4h, escalate_to: [ops@example.com] }',
    );
    expect(errors(result.problems)).toEqual([]);
    expect(result.catalog!.agents['morning-triage-loop']!.spec.approvals.merge_pr).toMatchObject({
      timeout: 28_800,
      remind_before: 3600,
      escalate_after: 14_400,
      escalate_to: ['ops@example.com'],
    });
  });

  it('refuses a reminder or escalation not shorter than the timeout, and an empty escalation group, with file and line', () => {
    expect(
      errors(withRule('{ timeout: 2h, remind_before: 3h, escalate_after: 2h, escalate_to: [] }').problems),
    ).toEqual([
      'morning-triage-loop.yaml:13:56: agent.approvals.merge_pr.remind_before: remind_before must be shorter than the timeout',
      'morning-triage-loop.yaml:13:76: agent.approvals.merge_pr.escalate_after: escalate_after must be shorter than the timeout',
      'morning-triage-loop.yaml:13:93: agent.approvals.merge_pr.escalate_to: expected at least one email address',
    ]);
    // Without a timeout, the default (3d) is the one to be shorter than.
    expect(errors(withRule('{ remind_before: 3d }').problems)).toEqual([
      'morning-triage-loop.yaml:13:43: agent.approvals.merge_pr.remind_before: remind_before must be shorter than the default timeout (3d)',
    ]);
  });

  it('refuses an approval timeout over 30 days, and accepts 30 days', () => {
    expect(errors(withRule('{ timeout: 31d }').problems)).toEqual([
      'morning-triage-loop.yaml:13:37: agent.approvals.merge_pr.timeout: timeout must be at most 30d: a request older than a month is stale',
    ]);
    expect(errors(withRule('{ timeout: 30d }').problems)).toEqual([]);
  });

  it('refuses escalate_after without escalate_to and the other way round, and an escalation address that is not one', () => {
    expect(errors(withRule('{ remind_before: 1h, escalate_after: 4h }').problems)).toEqual([
      'morning-triage-loop.yaml:13:63: agent.approvals.merge_pr.escalate_after: escalate_after needs escalate_to: the email addresses to escalate to',
    ]);
    expect(errors(withRule('{ escalate_to: [ops@example.com] }').problems)).toEqual([
      'morning-triage-loop.yaml:13:41: agent.approvals.merge_pr.escalate_to: escalate_to needs escalate_after: how long after the request to escalate',
    ]);
    expect(
      errors(withRule('{ timeout: 8h, escalate_after: 4h, escalate_to: [ops@example.com, nope] }').problems),
    ).toEqual(['morning-triage-loop.yaml:13:92: agent.approvals.merge_pr.escalate_to[1]: expected an email address']);
  });
});
