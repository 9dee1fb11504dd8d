import * as z from '../../core/definitions/zod.ts';

/**
 * Answering CloudFormation for a Lambda-backed custom resource: the function PUTs its
 * response, as JSON, to the pre-signed `ResponseURL` of the request (an S3 URL on AWS, any
 * URL in a test host). No Content-Type is sent: the URL is signed without one.
 */

export const CustomResourceEvent = z.object({
  RequestType: z.enum(['Create', 'Update', 'Delete']),
  ResponseURL: z.url({ protocol: /^https?$/ }),
  StackId: z.string().check(z.minLength(1)),
  RequestId: z.string().check(z.minLength(1)),
  LogicalResourceId: z.string().check(z.minLength(1)),
  ResourceType: z.string().check(z.minLength(1)),
  /** Absent on Create only. */
  PhysicalResourceId: z.optional(z.string().check(z.minLength(1))),
  ResourceProperties: z._default(z.record(z.string(), z.unknown()), {}),
  OldResourceProperties: z.optional(z.record(z.string(), z.unknown())),
});
export type CustomResourceEvent = z.infer<typeof CustomResourceEvent>;

/** The fields a response needs, whatever else is wrong with the event. */
export type ResponseTarget = Pick<CustomResourceEvent, 'ResponseURL' | 'StackId' | 'RequestId' | 'LogicalResourceId'>;

export interface CustomResourceAnswer {
  status: 'SUCCESS' | 'FAILED';
  /** Shown in the stack's events: why it failed. */
  reason?: string;
  physicalResourceId: string;
  /** `Fn::GetAtt` values; strings only. */
  data?: Record<string, string>;
}

/** CloudFormation refuses a response body over 4 KB; the reason is cut to fit. */
const MAX_RESPONSE_BYTES = 4096;
const ATTEMPTS = 3;

export function responseBody(target: ResponseTarget, answer: CustomResourceAnswer): string {
  const body = (reason: string | undefined) =>
    JSON.stringify({
      Status: answer.status,
      ...(reason ? { Reason: reason } : {}),
      PhysicalResourceId: answer.physicalResourceId,
      StackId: target.StackId,
      RequestId: target.RequestId,
      LogicalResourceId: target.LogicalResourceId,
      NoEcho: false,
      ...(answer.data ? { Data: answer.data } : {}),
    });
  let reason = answer.reason;
  let text = body(reason);
  while (reason && Buffer.byteLength(text) > MAX_RESPONSE_BYTES) {
    reason = `${reason.slice(0, Math.max(0, reason.length - (Buffer.byteLength(text) - MAX_RESPONSE_BYTES) - 40))} … (cut; see the function's log)`;
    text = body(reason);
  }
  return text;
}

/** PUTs the answer; retried on a network error or a 5xx, since an unanswered request hangs the deploy. */
export async function answerCloudFormation(
  target: ResponseTarget,
  answer: CustomResourceAnswer,
  fetchImpl: typeof fetch = fetch,
): Promise<void> {
  // A Buffer body: fetch then sets Content-Length and no Content-Type.
  const body = Buffer.from(responseBody(target, answer), 'utf8');
  let last = '';
  for (let attempt = 1; attempt <= ATTEMPTS; attempt += 1) {
    try {
      const response = await fetchImpl(target.ResponseURL, { method: 'PUT', body });
      if (response.ok) return;
      last = `HTTP ${response.status}`;
      if (response.status < 500) break;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (attempt < ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
  }
  throw new Error(`could not answer CloudFormation at the ResponseURL (${last})`);
}
