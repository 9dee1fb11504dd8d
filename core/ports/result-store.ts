/**
 * Tool results too large for the model's context, stored with their run and read back
 * in pages by looprail__read_result. The text is the screened (redacted) result.
 */
export interface StoredResult {
  /** `server.tool` that produced it. */
  tool: string;
  text: string;
  createdAt: string;
}

export type ResultLookup =
  | { state: 'found'; result: StoredResult }
  /** It existed and its retention has passed (the table's TTL may not have removed it yet). */
  | { state: 'expired' }
  | { state: 'missing' };

export interface ResultStore {
  /** Idempotent: a retried step writes the same result under the same key. */
  putResult(runId: string, callId: string, result: StoredResult): Promise<void>;
  getResult(runId: string, callId: string): Promise<ResultLookup>;
}
