import { modelToolName } from '../core/definitions/context.ts';
import type { RunMeta } from '../core/definitions/run.ts';
import { runTools } from '../core/run/sandbox.ts';
import type { LocalHost } from '../cli/local/host.ts';
import { countTokens, type ToolsSent, toolBlock } from './token-policy.ts';

/**
 * The token benchmark's tool-schema tokens (tokens.ts): for every model request of a run,
 * its tools as sent and the same tools with each input schema as its server published it
 * (tools/list), counted the same way, so the difference is what the harness strips.
 */

/** A tool's input schema as listed by its server, and whether that server is an MCP server (not looprail's own sandbox). */
export interface PublishedSchema {
  schema: Record<string, unknown>;
  mcp: boolean;
}

export interface SchemaTokens {
  requests: number;
  /** Requests carrying at least one MCP server's tool schema (not only looprail's own tools). */
  requests_with_mcp_schemas: number;
  published_per_request: number;
  sent_per_request: number;
  saved_per_request: number;
  /** Of the tool-schema tokens as published. */
  saved_share: number;
  saved_per_run: number;
}

/**
 * Every tool of the run's servers by the name the model calls it, with its schema as
 * published: tools/list through the run's own gateway, as StartRun lists them.
 */
export async function publishedSchemas(host: LocalHost, runId: string, meta: RunMeta) {
  const view = (await host.deps.store.loadState(runId))?.context?.view;
  if (!view) throw new Error(`token benchmark: run ${runId} has no snapshot to list its servers from`);
  const gateway = runTools(host.deps, view, meta);
  const published = new Map<string, PublishedSchema>();
  for (const [name, server] of Object.entries(view.servers))
    for (const tool of await gateway.listTools(server))
      published.set(modelToolName(name, tool.name), {
        schema: tool.inputSchema,
        mcp: server.transport.type !== 'builtin',
      });
  return published;
}

/**
 * A run's tool-schema tokens per request, as sent and as published. looprail's built-in
 * tools (load_tools, read_result) are published by no server: they count the same in both.
 */
export function schemaTokens(requests: ToolsSent[], published: Map<string, PublishedSchema>): SchemaTokens {
  let sent = 0;
  let asPublished = 0;
  let withMcpSchemas = 0;
  for (const request of requests) {
    sent += request.tokens;
    let mcp = false;
    for (const tool of request.tools) {
      const origin = published.get(tool.name);
      if (!origin && !tool.builtin)
        throw new Error(
          `token benchmark: run ${request.runId} sent ${tool.name} to the model, but no server of the run lists it (tools/list)`,
        );
      mcp ||= origin?.mcp === true;
      asPublished += countTokens(toolBlock(origin ? { ...tool, inputSchema: origin.schema } : tool));
    }
    if (mcp) withMcpSchemas += 1;
  }
  const mean = (total: number) => (requests.length ? Number((total / requests.length).toFixed(1)) : 0);
  return {
    requests: requests.length,
    requests_with_mcp_schemas: withMcpSchemas,
    published_per_request: mean(asPublished),
    sent_per_request: mean(sent),
    saved_per_request: mean(asPublished - sent),
    saved_share: asPublished ? Number(((asPublished - sent) / asPublished).toFixed(4)) : 0,
    saved_per_run: asPublished - sent,
  };
}
