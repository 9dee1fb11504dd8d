import { REFUSED_ARGUMENTS_KEY, type ToolCallBlock } from '../../definitions/messages.ts';
import { jsonShapeProblem, TOOL_ARGUMENT_LIMITS } from '../../limits/json-shape.ts';

/**
 * A call whose arguments are over TOOL_ARGUMENT_LIMITS keeps only why: it is then refused as
 * invalid. Its own module, so the model's turn (model-call.ts) bounds calls without loading
 * what runs them (governed-call.ts and its JSON Schema validator).
 */
export function withinShapeLimits(call: ToolCallBlock): ToolCallBlock {
  const shape = jsonShapeProblem(call.arguments, TOOL_ARGUMENT_LIMITS, 'arguments');
  return shape ? { ...call, arguments: { [REFUSED_ARGUMENTS_KEY]: shape.message } } : call;
}
