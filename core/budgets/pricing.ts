import type { Price } from '../definitions/org.ts';

/**
 * Cost in millionths of a USD. Prices are per million tokens, so a token at $3/M costs
 * exactly 3 micro-USD: integer sums stay exact to the cent however many steps a run has.
 * Cache reads and cache writes are parts of the input tokens, each at its own rate when
 * the model declares one.
 */
export function costMicros(
  price: Price,
  usage: { inputTokens: number; outputTokens: number; cachedInputTokens: number; cacheWriteInputTokens?: number },
): number {
  const cached = Math.min(usage.cachedInputTokens, usage.inputTokens);
  const written = Math.min(usage.cacheWriteInputTokens ?? 0, usage.inputTokens - cached);
  const plain = usage.inputTokens - cached - written;
  const cachedRate = price.cached_input_per_mtok ?? price.input_per_mtok;
  const writeRate = price.cache_write_per_mtok ?? price.input_per_mtok;
  return Math.round(
    plain * price.input_per_mtok +
      cached * cachedRate +
      written * writeRate +
      usage.outputTokens * price.output_per_mtok,
  );
}

export function usdToMicros(usd: number): number {
  return Math.round(usd * 1_000_000);
}
