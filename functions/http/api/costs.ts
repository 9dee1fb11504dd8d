import { totalsByKey } from '../../../core/budgets/totals.ts';
import * as z from '../../../core/definitions/zod.ts';
import { json, parseQuery } from '../router.ts';
import type { HttpRequest, HttpResponse } from '../types.ts';
import type { ApiDeps, Operation } from './operation.ts';

/** Spend over the last days, from the daily rollups (the same numbers as `looprail costs`). */

const CostsQuery = z.object({
  by: z._default(z.enum(['agent', 'team', 'model', 'user']), 'agent'),
  days: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(366)), 7),
});

const CostsPage = z.object({
  by: z.string(),
  from: z.string(),
  to: z.string(),
  lines: z.array(
    z.object({
      key: z.string(),
      costMicros: z.number(),
      checkerCostMicros: z.number(),
      inputTokens: z.number(),
      outputTokens: z.number(),
      calls: z.number(),
    }),
  ),
});

async function costs(deps: Pick<ApiDeps, 'store' | 'clock'>, request: HttpRequest): Promise<HttpResponse> {
  const query = parseQuery(request, CostsQuery);
  const now = deps.clock.now();
  const from = new Date(now.getTime() - (query.days - 1) * 86_400_000).toISOString().slice(0, 10);
  const to = now.toISOString().slice(0, 10);
  return json(200, { by: query.by, from, to, lines: totalsByKey(await deps.store.listRollups(query.by, from, to)) });
}

export function costOperations(deps: Pick<ApiDeps, 'store' | 'clock'>): Operation[] {
  return [
    {
      method: 'GET',
      path: '/v1/costs',
      operationId: 'costs',
      summary:
        'Spend per agent, team, model or user over the last days, from the daily rollups ' +
        '(the same numbers as `looprail costs`)',
      query: CostsQuery,
      responses: { 200: { description: 'totals per key, most expensive first', schema: CostsPage } },
      handle: (request) => costs(deps, request),
    },
  ];
}
