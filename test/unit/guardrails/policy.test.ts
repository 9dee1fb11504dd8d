import { describe, expect, it } from 'vitest';
import {
  GuardrailPolicy,
  GuardrailsFile,
  mergePolicies,
  type GuardrailPolicyInput,
} from '../../../core/definitions/guardrails.ts';
import { formatProblem } from '../../../core/definitions/problems.ts';
import { parseYaml, validateWith } from '../../../core/definitions/yaml-source.ts';
import { backtrackingRisk } from '../../../core/guardrails/user-patterns.ts';

const parse = (input: GuardrailPolicyInput) => GuardrailPolicy.parse(input);

/** Every problem a schema reports, as `path: message`. */
function problems(input: unknown): string[] {
  const result = GuardrailsFile.safeParse({ guardrails: input });
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('guardrail policy schema', () => {
  it('reads the documented example, filling in defaults', () => {
    const policy = parse({
      pii: { action: 'redact', allow: ['noreply@example\\.com'] },
      deny_patterns: [
        {
          name: 'no-prod-hosts',
          pattern: 'prod-db\\.internal',
          action: 'block',
          stages: ['tool_input', 'model_output'],
        },
      ],
      size_limits: {
        model_input_chars: 400_000,
        tool_output_chars: '100_000' as unknown as number,
        action: 'truncate',
      },
      prompt_injection: { action: 'flag', stages: ['tool_output'] },
      custom: [{ rule: 'no-customer-ids', action: 'block', stages: ['tool_output'] }],
    });
    expect(policy.pii).toEqual({
      detect: ['email', 'phone', 'credit_card', 'iban', 'aws_access_key', 'private_key', 'api_key'],
      action: 'redact',
      stages: ['model_input', 'model_output', 'tool_input', 'tool_output'],
      allow: ['noreply@example\\.com'],
    });
    expect(policy.deny_patterns[0]).toMatchObject({ ignore_case: false, stages: ['model_output', 'tool_input'] });
    expect(policy.size_limits).toEqual({ model_input_chars: 400_000, tool_output_chars: 100_000, action: 'truncate' });
    expect(policy.allow_patterns).toEqual([]);
  });

  it('treats a bare `pii:` or `prompt_injection:` key as "on, with defaults"', () => {
    const policy = parse({ pii: null, prompt_injection: null });
    expect(policy.pii?.action).toBe('redact');
    expect(policy.prompt_injection).toEqual({ action: 'flag', stages: ['model_input', 'tool_output'] });
  });

  it('names the pattern and the regex error for an invalid regex', () => {
    expect(problems({ deny_patterns: [{ name: 'bad', pattern: 'prod-db[' }] })).toEqual([
      'guardrails.deny_patterns.0.pattern: invalid regular expression "prod-db[": Unterminated character class',
    ]);
    expect(problems({ pii: { allow: ['(unclosed'] } })[0]).toMatch(
      /pii\.allow\.0: invalid regular expression "\(unclosed": Unterminated group/,
    );
  });

  it('rejects patterns that match empty text or can backtrack catastrophically', () => {
    expect(problems({ deny_patterns: [{ name: 'all', pattern: '.*' }] })[0]).toContain('matches empty text');
    expect(problems({ allow_patterns: [{ name: 'slow', pattern: '^(a+)+$' }] })[0]).toContain(
      'repeats a group that itself ends in a repetition',
    );
  });

  it('says what was expected for an unknown stage, action or PII kind, all at once', () => {
    expect(
      problems({
        pii: { detect: ['email', 'ssn'], action: 'truncate' },
        deny_patterns: [{ name: 'x', pattern: 'x', stages: ['tool_result'] }],
        prompt_injection: { action: 'redact' },
      }),
    ).toEqual([
      'guardrails.pii.detect.1: expected a PII kind: email, phone, credit_card, iban, aws_access_key, private_key or api_key',
      'guardrails.pii.action: expected an action: redact, block or flag',
      'guardrails.deny_patterns.0.stages.0: expected a stage: model_input, model_output, tool_input or tool_output',
      'guardrails.prompt_injection.action: expected an action: flag or block',
    ]);
  });

  it('rejects unknown keys, duplicate names, empty stage lists and limit-less size_limits', () => {
    expect(problems({ pii: { acton: 'block' } })[0]).toMatch(/pii: Unrecognized key: "acton"/);
    expect(
      problems({
        deny_patterns: [
          { name: 'x', pattern: 'a' },
          { name: 'x', pattern: 'b' },
        ],
      }),
    ).toEqual([
      'guardrails.deny_patterns.1.name: duplicate deny pattern name "x"; expected each deny pattern name once',
    ]);
    expect(problems({ custom: [{ rule: 'r', stages: [] }] })).toEqual([
      'guardrails.custom.0.stages: expected at least one stage',
    ]);
    expect(problems({ size_limits: { action: 'block' } })[0]).toContain('expected at least one limit');
    expect(problems({ size_limits: { tool_output_chars: 0 } })[0]).toContain('expected a number greater than 0');
  });
});

describe('guardrails.yaml through the validation pipeline', () => {
  it('reports every problem with its line, path and what was expected', () => {
    const text = [
      'guardrails:',
      '  pii:',
      '    detct: [email]',
      '  deny_patterns:',
      '    - name: no-prod-hosts',
      '      pattern: "prod-db["',
      '      stages: [tool_result]',
      '  prompt_injection:',
      '',
    ].join('\n');
    const parsed = parseYaml({ file: 'guardrails.yaml', text }, 'a guardrails file');
    if (!parsed.ok) throw new Error('expected YAML that parses');
    const result = validateWith(GuardrailsFile, parsed.parsed);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map(formatProblem)).toEqual([
      'guardrails.yaml:3:5: guardrails.pii.detct: unknown key "detct" (did you mean "detect"?)',
      'guardrails.yaml:6:16: guardrails.deny_patterns[0].pattern: invalid regular expression "prod-db[": Unterminated character class',
      // The pipeline words enum problems its own way; the choices are the same.
      'guardrails.yaml:7:16: guardrails.deny_patterns[0].stages[0]: expected one of "model_input", "model_output", "tool_input", "tool_output"',
    ]);
  });
});

describe('backtracking check', () => {
  it('flags nested unbounded repetition, accepts separated repetition', () => {
    for (const risky of ['(a+)+', '(\\w+\\s?)*$', '(?:x|y+){2,}', '((ab)*c*)+', '([a-z]+)*@'])
      expect(backtrackingRisk(risky), risky).toBeDefined();
    for (const safe of [
      'prod-db\\.internal',
      '(?:\\d+\\.)+\\d+',
      '(a+)?',
      '[(a+)+]',
      '\\(a+\\)+',
      '^\\{.*\\}$',
      '(?<name>x+)y',
    ]) {
      expect(backtrackingRisk(safe), safe).toBeUndefined();
    }
  });
});

describe('mergePolicies', () => {
  const org = parse({
    pii: {
      detect: ['email', 'credit_card'],
      action: 'redact',
      stages: ['model_output'],
      allow: ['noreply@example\\.com'],
    },
    deny_patterns: [{ name: 'no-prod-hosts', pattern: 'prod-db\\.internal', action: 'redact', stages: ['tool_input'] }],
    allow_patterns: [{ name: 'json', pattern: '^\\{', stages: ['tool_input'] }],
    size_limits: { tool_output_chars: 100_000, model_input_chars: 50_000, action: 'truncate' },
    prompt_injection: { action: 'flag', stages: ['tool_output'] },
    custom: [{ rule: 'no-customer-ids', action: 'block', stages: ['tool_output'] }],
  });

  it('is the org policy when the agent adds nothing, and the agent policy when the org has none', () => {
    expect(mergePolicies(org, undefined)).toEqual(org);
    expect(mergePolicies(org, parse({}))).toEqual(org);
    expect(mergePolicies(undefined, org)).toEqual(org);
    expect(mergePolicies(undefined, undefined)).toEqual({ deny_patterns: [], allow_patterns: [], custom: [] });
  });

  it('keeps the org action when the agent asks for a looser one', () => {
    const merged = mergePolicies(
      org,
      parse({
        pii: { action: 'flag' },
        deny_patterns: [
          { name: 'no-prod-hosts', pattern: 'prod-db\\.internal', action: 'flag', stages: ['tool_input'] },
        ],
        size_limits: { tool_output_chars: 900_000, action: 'truncate' },
        custom: [{ rule: 'no-customer-ids', action: 'flag' }],
      }),
    );
    expect(merged.pii?.action).toBe('redact');
    expect(merged.deny_patterns).toHaveLength(1);
    expect(merged.deny_patterns[0]?.action).toBe('redact');
    expect(merged.size_limits?.tool_output_chars).toBe(100_000);
    expect(merged.custom[0]?.action).toBe('block');
  });

  it('takes the stricter action and the union of stages and kinds when the agent tightens', () => {
    const merged = mergePolicies(
      org,
      parse({
        pii: { detect: ['aws_access_key'], action: 'block', stages: ['tool_output'], allow: ['.*@example\\.com'] },
        deny_patterns: [
          { name: 'no-prod-hosts', pattern: 'prod-db\\.internal', action: 'block', stages: ['model_output'] },
        ],
        size_limits: { tool_output_chars: 20_000, tool_input_chars: 5_000, action: 'block' },
        prompt_injection: { action: 'block', stages: ['model_input'] },
      }),
    );
    expect(merged.pii).toEqual({
      detect: ['email', 'credit_card', 'aws_access_key'],
      action: 'block',
      stages: ['model_output', 'tool_output'],
      // The agent's own exemption would loosen the org's PII rule: only the org's holds.
      allow: ['noreply@example\\.com'],
    });
    expect(merged.deny_patterns).toEqual([
      {
        name: 'no-prod-hosts',
        pattern: 'prod-db\\.internal',
        ignore_case: false,
        action: 'block',
        stages: ['model_output', 'tool_input'],
      },
    ]);
    expect(merged.size_limits).toEqual({
      model_input_chars: 50_000,
      tool_input_chars: 5_000,
      tool_output_chars: 20_000,
      action: 'block',
    });
    expect(merged.prompt_injection).toEqual({ action: 'block', stages: ['model_input', 'tool_output'] });
  });

  it('adds agent rules beside the org rules; a reused name with a different pattern cannot replace the org rule', () => {
    const merged = mergePolicies(
      org,
      parse({
        deny_patterns: [
          { name: 'no-prod-hosts', pattern: 'nothing-at-all' },
          { name: 'no-staging', pattern: 'staging\\.internal' },
        ],
        custom: [{ rule: 'no-ssn' }],
      }),
    );
    expect(merged.deny_patterns.map((entry) => [entry.name, entry.pattern])).toEqual([
      ['no-prod-hosts', 'prod-db\\.internal'],
      ['no-prod-hosts-agent', 'nothing-at-all'],
      ['no-staging', 'staging\\.internal'],
    ]);
    expect(merged.custom.map((entry) => entry.rule)).toEqual(['no-customer-ids', 'no-ssn']);
  });

  it('puts agent allow patterns in a group of their own, so they narrow and never widen', () => {
    const merged = mergePolicies(
      org,
      parse({ allow_patterns: [{ name: 'anything-with-x', pattern: 'x', stages: ['tool_input'] }] }),
    );
    expect(merged.allow_patterns.map((entry) => [entry.name, entry.group])).toEqual([
      ['json', 'default'],
      ['anything-with-x', 'default-agent'],
    ]);
  });

  it('does not change its inputs', () => {
    const before = structuredClone(org);
    mergePolicies(
      org,
      parse({ deny_patterns: [{ name: 'no-prod-hosts', pattern: 'prod-db\\.internal', action: 'block' }] }),
    );
    expect(org).toEqual(before);
  });
});
