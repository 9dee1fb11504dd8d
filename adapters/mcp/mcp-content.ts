import type { CallToolResult, ContentBlock, Tool } from '@modelcontextprotocol/sdk/types.js';
import { jsonShapeProblem, TOOL_RESULT_LIMITS } from '../../core/limits/json-shape.ts';
import type { ToolDescriptor } from '../../core/ports/tools.ts';

/** How an MCP server's tool list and tool results are shown to the runtime and the model. */

export function toDescriptor(tool: Tool): ToolDescriptor {
  const descriptor: ToolDescriptor = { name: tool.name, inputSchema: tool.inputSchema as Record<string, unknown> };
  if (tool.description !== undefined) descriptor.description = tool.description;
  if (tool.annotations) {
    const { title, readOnlyHint, destructiveHint, idempotentHint, openWorldHint } = tool.annotations;
    descriptor.annotations = Object.fromEntries(
      Object.entries({ title, readOnlyHint, destructiveHint, idempotentHint, openWorldHint }).filter(
        ([, v]) => v !== undefined,
      ),
    );
  }
  return descriptor;
}

/** One string for the model: text as is, binary content as a short placeholder. */
export function renderContent(result: CallToolResult): string {
  const blocks = result.content ?? [];
  const parts = blocks.map(renderBlock);
  const hasText = blocks.some((block) => block.type === 'text');
  if (!hasText && result.structuredContent !== undefined) parts.push(structuredText(result.structuredContent));
  return parts.join('\n');
}

/** Structured content as JSON text, unless its shape is over the limits (too deep to write out safely). */
function structuredText(value: unknown): string {
  const shape = jsonShapeProblem(value, TOOL_RESULT_LIMITS, 'structuredContent');
  return shape ? `[structured content left out: ${shape.message}]` : JSON.stringify(value);
}

function renderBlock(block: ContentBlock): string {
  switch (block.type) {
    case 'text':
      return block.text;
    case 'image':
    case 'audio':
      return `[${block.type} ${block.mimeType}, ${base64Bytes(block.data)} bytes]`;
    case 'resource': {
      const resource = block.resource;
      const body =
        'text' in resource
          ? resource.text
          : `[blob ${resource.mimeType ?? 'application/octet-stream'}, ${base64Bytes(resource.blob)} bytes]`;
      return `[resource ${resource.uri}]\n${body}`;
    }
    case 'resource_link':
      return `[resource_link ${block.uri}] ${block.name}${block.description ? `: ${block.description}` : ''}`;
    default:
      return `[${(block as { type: string }).type} content]`;
  }
}

function base64Bytes(data: string): number {
  return Buffer.byteLength(data, 'base64');
}
