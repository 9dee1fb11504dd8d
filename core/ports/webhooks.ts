/** Posts JSON to a URL a definition names (alerts, notifications): Slack-compatible bodies. */
export interface WebhookPoster {
  post(url: string, body: Record<string, unknown>): Promise<void>;
}
