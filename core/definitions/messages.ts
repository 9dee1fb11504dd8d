import * as z from './zod.ts';

/**
 * The conversation, in one provider-neutral shape. Providers translate to and from
 * their wire formats at the edge (adapters/models). Messages live in DynamoDB, never
 * in a state machine payload.
 */

export const TextBlock = z.strictObject({ type: z.literal('text'), text: z.string() });
export type TextBlock = z.infer<typeof TextBlock>;

/**
 * A provider that returns tool-call arguments which are not a JSON object keeps the raw
 * text under this key, so the call is recorded and then refused as invalid.
 */
export const INVALID_ARGUMENTS_KEY = '__invalid_json';

/**
 * Arguments over their shape limits (TOOL_ARGUMENT_LIMITS in core/limits/json-shape.ts) are
 * not kept: this key holds why, so the call is recorded and then refused like invalid JSON.
 */
export const REFUSED_ARGUMENTS_KEY = '__refused_arguments';

export const ToolCallBlock = z.strictObject({
  type: z.literal('tool_call'),
  /** Unique within the run; the model's id when it gives one. */
  id: z.string().check(z.minLength(1)),
  /** The name the model sees: `server__tool`. */
  name: z.string().check(z.minLength(1)),
  arguments: z.record(z.string(), z.unknown()),
});
export type ToolCallBlock = z.infer<typeof ToolCallBlock>;

export const ToolResultBlock = z.strictObject({
  type: z.literal('tool_result'),
  callId: z.string().check(z.minLength(1)),
  name: z.string().check(z.minLength(1)),
  content: z.string(),
  isError: z.boolean(),
});
export type ToolResultBlock = z.infer<typeof ToolResultBlock>;

export const ContentBlock = z.discriminatedUnion('type', [TextBlock, ToolCallBlock, ToolResultBlock]);
export type ContentBlock = z.infer<typeof ContentBlock>;

export const Message = z.strictObject({
  role: z.enum(['user', 'assistant', 'tool']),
  content: z.array(ContentBlock),
});
export type Message = z.infer<typeof Message>;

export function textOf(message: Message): string {
  return message.content
    .filter((block): block is TextBlock => block.type === 'text')
    .map((block) => block.text)
    .join('\n');
}

export function toolCallsOf(message: Message): ToolCallBlock[] {
  return message.content.filter((block): block is ToolCallBlock => block.type === 'tool_call');
}
