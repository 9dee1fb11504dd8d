/** Org-wide rate limits (an agent's model requests, a tool's calls) in fixed one-minute windows. */
export interface RateLimitStore {
  /**
   * Counts one use against a fixed window's limit, atomically: true when it fits, false
   * when the window is full (nothing is counted then).
   */
  takeRateToken(subject: string, windowStart: string, limit: number, expiresAt: number): Promise<boolean>;
}
