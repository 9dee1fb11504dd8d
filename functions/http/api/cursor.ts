import type { RunMeta } from '../../../core/definitions/run.ts';
import * as z from '../../../core/definitions/zod.ts';
import type { RunCursor } from '../../../core/ports/run-store.ts';
import { HttpError } from '../router.ts';

/**
 * Paging over runs, shared by the API's lists and the console's: a cursor is the last run
 * of a page, opaque to callers.
 */

export const PageLimit = z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), 20);
export const PageCursor = z
  .string()
  .check(z.minLength(1), z.maxLength(512), z.meta({ description: 'nextCursor from the previous page' }));

const CursorFields = z.tuple([z.string().check(z.minLength(1)), z.string().check(z.minLength(1))]);

function encodeCursor(run: RunCursor): string {
  return Buffer.from(JSON.stringify([run.createdAt, run.runId]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): RunCursor | undefined {
  if (cursor === undefined) return undefined;
  try {
    const [createdAt, runId] = CursorFields.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    // One spelling per cursor, the one this API writes: the decoder would also take padding,
    // `+` `/`, stray low bits, and JSON.parse other spacing.
    if (encodeCursor({ createdAt, runId }) !== cursor) throw new Error('not a cursor this API wrote');
    return { createdAt, runId };
  } catch {
    const message = 'cursor is not one this API returned (pass nextCursor from the previous page)';
    throw new HttpError(400, 'invalid_request', message, { field: 'cursor' });
  }
}

/** A full page may have more after it; a short one is the last. */
export function nextCursor(runs: RunMeta[], limit: number): string | undefined {
  const last = runs.at(-1);
  return last && runs.length >= limit ? encodeCursor(last) : undefined;
}
