/** Step Functions errors worth a retry: throttling and the service's own 5xx may pass next time. */
const TRANSIENT = new Set([
  'ThrottlingException',
  'ServiceUnavailable',
  'InternalServerError',
  'TimeoutError',
  'RequestTimeout',
]);

/** Whether a Step Functions API error (by name or HTTP status) is transient. */
export function isTransientSfnError(name: string, error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return TRANSIENT.has(name) || (status !== undefined && status >= 500);
}
