import { describe, expect, it } from 'vitest';
import type { ToolSpec } from '../../core/definitions/context.ts';
import { modelToolSchema } from '../../core/policy/model-tool-schema.ts';
import { schemaCheck } from '../../bench/token-report.ts';
import { countTokens, type ToolsSent, toolBlock } from '../../bench/token-policy.ts';
import { type PublishedSchema, type SchemaTokens, schemaTokens } from '../../bench/token-schemas.ts';

const published = {
  type: 'object',
  properties: { path: { type: 'string', description: 'where to read' } },
  required: ['path'],
  $schema: 'http://json-schema.org/draft-07/schema#',
};
const spec = (name: string, inputSchema: Record<string, unknown>, builtin?: boolean): ToolSpec => ({
  name,
  server: name.split('__')[0]!,
  tool: name.split('__')[1]!,
  description: `the ${name} tool`,
  inputSchema,
  readOnly: true,
  destructive: false,
  requiresApproval: false,
  ...(builtin ? { builtin } : {}),
});
/** A request as the policy records it: the tools as sent and their tokens, counted as the request's are. */
const request = (tools: ToolSpec[]): ToolsSent => ({
  runId: 'r-1',
  tools,
  tokens: tools.reduce((sum, tool) => sum + countTokens(toolBlock(tool)), 0),
});
const servers = new Map<string, PublishedSchema>([['ci__read_file', { schema: published, mcp: true }]]);
const loader = spec('looprail__load_tools', { type: 'object', additionalProperties: false }, true);

describe("the token benchmark's tool-schema tokens, as published and as sent", () => {
  it('counts each request twice, the second time with the schema its server published', () => {
    const sent = spec('ci__read_file', modelToolSchema(published));
    const figures = schemaTokens([request([loader, sent]), request([loader])], servers);
    const fewer = countTokens(toolBlock({ ...sent, inputSchema: published })) - countTokens(toolBlock(sent));
    expect(fewer).toBeGreaterThan(0);
    expect(figures).toMatchObject({ requests: 2, requests_with_mcp_schemas: 1, saved_per_run: fewer });
    expect(figures.published_per_request - figures.sent_per_request).toBeCloseTo(fewer / 2, 1);
  });

  it('counts looprail built-in tools the same both ways: no server publishes them', () => {
    expect(schemaTokens([request([loader])], servers)).toMatchObject({
      saved_per_run: 0,
      requests_with_mcp_schemas: 0,
    });
  });

  it('refuses a tool sent to the model that no server of the run lists, naming it and the run', () => {
    expect(() => schemaTokens([request([spec('memory__read_graph', {})])], servers)).toThrow(
      'token benchmark: run r-1 sent memory__read_graph to the model, but no server of the run lists it (tools/list)',
    );
  });
});

describe("the report's check: fewer tool-schema tokens sent than published", () => {
  const mode = (published: number, sent: number, withMcp = 1): { tool_schemas: SchemaTokens } => ({
    tool_schemas: {
      requests: 1,
      requests_with_mcp_schemas: withMcp,
      published_per_request: published,
      sent_per_request: sent,
      saved_per_request: published - sent,
      saved_share: published ? (published - sent) / published : 0,
      saved_per_run: published - sent,
    },
  });

  it('is met when every mode carrying MCP servers schemas sends fewer, ignoring modes that carry none', () => {
    expect(schemaCheck({ naive: mode(5318, 4628), lean: mode(2027, 1838), code: mode(1342, 1342, 0) })).toEqual({
      met: true,
      modes: ['naive', 'lean'],
    });
  });

  it('is not met when one such mode sends as many as published', () => {
    expect(schemaCheck({ naive: mode(5318, 4628), lean: mode(2027, 2027), code: mode(0, 0, 0) }).met).toBe(false);
  });

  it('is not met when no mode carries an MCP server schema: nothing was measured', () => {
    expect(schemaCheck({ naive: mode(10, 10, 0), lean: mode(10, 10, 0), code: mode(10, 10, 0) })).toEqual({
      met: false,
      modes: [],
    });
  });
});
