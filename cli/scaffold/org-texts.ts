import { modeline } from './texts.ts';

/**
 * The org-wide files `looprail init` writes before its first agent: models (real ones to switch
 * to, the scripted ones the agents play are added below them), the secrets their keys live in
 * (names only), and a budget for the team.
 */

export function modelsText(): string {
  return `${modeline('models.yaml', 'models')}# Models by name. An agent names one in \`model:\`; this file says who serves it, what it
# costs (USD per million tokens) and which secret holds its key: the secret's name, never
# its value. Set a key with \`npx looprail secrets set <secret> --org <this folder> < key.txt\`.
models:
  # Anthropic's API: the key in the secret anthropic-api-key.
  claude-sonnet-4-6:
    provider: anthropic
    model_id: claude-sonnet-4-6
    secret: anthropic-api-key
    price: { input_per_mtok: 3, output_per_mtok: 15, cached_input_per_mtok: 0.3 }
    context_window: 200000

  # Claude on Amazon Bedrock, through an inference profile: no secret, your AWS credentials
  # (locally the AWS SDK's usual chain; on AWS the agent's own role).
  claude-sonnet-4-6-bedrock:
    provider: bedrock
    model_id: us.anthropic.claude-sonnet-4-6
    region: us-east-1
    price: { input_per_mtok: 3, output_per_mtok: 15, cached_input_per_mtok: 0.3 }
    context_window: 200000

  # OpenAI, or any server that speaks its Chat Completions API (vLLM, Ollama, LiteLLM…):
  # set base_url to it (e.g. http://127.0.0.1:11434/v1); leave secret out if it needs no key.
  gpt-4-1-mini:
    provider: openai
    model_id: gpt-4.1-mini
    secret: openai-api-key
    price: { input_per_mtok: 0.4, output_per_mtok: 1.6 }
    context_window: 1000000

  # Scripted models play the fixed turns of a script: offline, no key, and every trace line
  # says "scripted". Priced like a real model so runs show what they would cost.
`;
}

export function secretsText(): string {
  return `${modeline('secrets.yaml', 'secrets')}# Secret names only. Locally a value lives in .looprail/secrets.json
# (\`npx looprail secrets set <name> --org <this folder> < file\`) or LOOPRAIL_SECRET_<NAME>;
# on AWS in the Secrets Manager secret of that name (the same command with --aws).
secrets:
  anthropic-api-key:
    description: Anthropic API key for the claude-sonnet-4-6 model
  openai-api-key:
    description: OpenAI (or compatible server) API key for the gpt-4-1-mini model
`;
}

export function budgetsText(team: string): string {
  return `${modeline('budgets.yaml', 'budgets')}# Spend limits, checked before every model call: a call that would pass one is not made,
# and the run stops budget_exhausted (or, with on_exhausted: pause_for_human, waits for a person).
budgets:
  - name: ${team}-monthly
    team: ${team}
    period: month
    limit_usd: 20
    alert_thresholds: [0.5, 0.8, 1]
`;
}
