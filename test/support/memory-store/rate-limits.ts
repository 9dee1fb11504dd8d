import type { RateLimitStore } from '../../../core/ports/store/rate-limits.ts';

/** Rate windows in memory: one counter per subject and window (expiry is not modelled). */
export class MemoryRateLimits implements RateLimitStore {
  private readonly windows = new Map<string, number>();

  async takeRateToken(subject: string, windowStart: string, limit: number, _expiresAt: number): Promise<boolean> {
    const key = `${subject}\n${windowStart}`;
    const count = this.windows.get(key) ?? 0;
    if (count >= limit) return false;
    this.windows.set(key, count + 1);
    return true;
  }
}
