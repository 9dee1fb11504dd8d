import type { PromptInjectionRule } from '../definitions/guardrails.ts';
import { ACTION_VERB, plural, type Finding, type GuardrailAction, type Stage } from './types.ts';

/**
 * Markers of prompt injection: text from outside (a tool result, a fetched page, a webhook)
 * that tries to replace the agent's instructions. A handful of robust patterns, not a
 * classifier: each needs the instruction-shaped wording around its keyword, so ordinary
 * text ("you are now logged in", "ignore my previous email") does not trip it.
 * All are case-insensitive; `\s+` between literal words keeps them linear.
 */

export const INJECTION_RULE = 'prompt_injection';

const MARKERS: ReadonlyArray<{ kind: string; pattern: RegExp }> = [
  {
    // "ignore all previous instructions", "disregard the above instructions", "forget your prior rules"
    kind: 'ignore_previous',
    pattern:
      /\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+|these\s+|those\s+)?(?:previous|prior|above|earlier|preceding|original|system)\s+(?:instructions?|prompts?|directions|directives|guidelines|commands|rules)\b/gi,
  },
  {
    // "disregard the above", "disregard everything above"
    kind: 'ignore_previous',
    pattern: /\bdisregard\s+(?:all\s+(?:of\s+)?|everything\s+)?(?:the\s+)?above\b/gi,
  },
  {
    // "you are now DAN", "you are now an unrestricted AI", "you are now in developer mode".
    // Not "assistant" or "model" alone: "you are now the assistant manager" is an HR email.
    kind: 'role_override',
    pattern:
      /\byou\s+are\s+now\s+(?:(?:a|an|the|my|in)\s+)?(?:[a-z-]+\s+){0,2}?(?:ai|chatbot|dan|jailbroken|unrestricted|unfiltered|uncensored|developer\s+mode)\b/gi,
  },
  {
    // "from now on, you will act as …"
    kind: 'role_override',
    pattern: /\bfrom\s+now\s+on,?\s+you\s+(?:will|must|shall|are\s+to)\s+(?:act|respond|behave|pretend|roleplay)\b/gi,
  },
  {
    // "system prompt:", "new system prompt:", "BEGIN SYSTEM PROMPT", "start of the system instructions"
    kind: 'system_prompt',
    pattern:
      /\bsystem\s+prompt\s*:|\b(?:begin|start)\s+(?:of\s+)?(?:the\s+)?(?:new\s+)?system\s+(?:prompt|instructions?|message)\b/gi,
  },
  {
    // Chat-template control tokens have no business inside a tool result.
    kind: 'chat_template',
    pattern:
      /<\|(?:im_start|im_end|im_sep|system|user|assistant|start_header_id|end_header_id|eot_id|endoftext)\|>|\[\/?INST\]|<<\/?SYS>>/gi,
  },
  {
    // Text that addresses the model rather than the reader: "Note to the AI assistant:",
    // "If you are an AI agent reading this, …". The colon, comma or "reading this" is what
    // separates these from "a message for the AI team" or "if you are an AI researcher".
    kind: 'addresses_assistant',
    pattern:
      /\b(?:note|message|instructions?)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?(?:ai|llm|language\s+model|ai\s+(?:assistant|agent|model)|chatbot)s?\s*[:,]|\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|(?:large\s+)?language\s+model|ai\s+(?:assistant|agent|model)|chatbot)(?:\s*,|\s+(?:reading|processing|summari[sz]ing|parsing)\b)/gi,
  },
];

export function detectPromptInjection(text: string, _stage: Stage, _config: PromptInjectionRule): Finding[] {
  const findings: Finding[] = [];
  for (const { kind, pattern } of MARKERS) {
    for (const match of text.matchAll(pattern)) {
      findings.push({ rule: INJECTION_RULE, kind, start: match.index, end: match.index + match[0].length });
    }
  }
  // Two markers over the same words ("disregard the above instructions") are one finding.
  findings.sort((a, b) => a.start - b.start || b.end - a.end);
  let coveredTo = 0;
  return findings.filter((finding) => {
    if (finding.start < coveredTo) return false;
    coveredTo = finding.end;
    return true;
  });
}

/** "flagged: 2 prompt-injection markers (ignore_previous, chat_template)": kinds, not the text. */
export function describeInjection(findings: readonly Finding[], action: GuardrailAction): string {
  const kinds = [...new Set(findings.map((finding) => finding.kind))].join(', ');
  return `${ACTION_VERB[action]}: ${plural(findings.length, 'prompt-injection marker')} (${kinds})`;
}
