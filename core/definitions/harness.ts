/**
 * The harness limits an agent gets where its file says nothing: what the agent schema
 * (agent.ts) fills in, and what the run's steps fall back to. A module of its own so the
 * steps read these numbers without loading the whole agent schema (zod, schedules, skill
 * ranges) into their Lambda bundles.
 */
export const DEFAULT_HARNESS = {
  max_steps: 50,
  max_output_tokens: 4096,
  stall_max_repeats: 3,
  on_denied_tool: 'continue',
  on_tool_in_doubt: 'continue',
  max_tool_calls_per_turn: 16,
  max_depth: 2,
  max_verify_attempts: 2,
  checker_max_steps: 10,
  approval_timeout_seconds: 3 * 86_400,
  offload_result_tokens: 4_000,
  offload_turn_tokens: 8_000,
  preview_chars: 1_200,
  compact_at: 0.75,
  on_compaction_failure: 'continue',
} as const;
