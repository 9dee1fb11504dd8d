import type * as z from '../../../core/definitions/zod.ts';
import type { SecretStore } from '../../../core/ports/secrets.ts';
import type { TriggerDeps } from '../../../core/run/trigger.ts';
import { HttpError } from '../router.ts';
import type { HttpRequest, HttpResponse } from '../types.ts';

/** What the REST API runs on: the start path's dependencies, and the secrets webhooks are verified with. */
export type ApiDeps = TriggerDeps & {
  /** Webhook signing secrets are read by name at the edge that verifies them. */
  secrets?: SecretStore;
};

/** One route with what /openapi.json says about it: the schemas are the ones the handler parses with. */
export interface Operation {
  method: 'GET' | 'POST';
  /** Router pattern, `:name` for path parameters. */
  path: string;
  operationId: string;
  summary: string;
  query?: z.ZodMiniType;
  body?: z.ZodMiniType;
  /** Status → description and body schema (problems are added to every operation). */
  responses: Record<number, { description: string; schema?: z.ZodMiniType }>;
  handle(request: HttpRequest, params: Record<string, string>): Promise<HttpResponse>;
}

/** The caller the host authenticated, recorded on what it starts or stops. */
export function principalOf(request: HttpRequest): string {
  // The host authenticates before the app runs; a request without a principal is a wiring bug.
  if (!request.principal) throw new HttpError(401, 'unauthenticated', 'this endpoint needs an authenticated caller');
  return request.principal;
}
