import { errorMessage } from '../../core/errors.ts';
import type { Logger } from '../../core/ports/logger.ts';
import { answerCloudFormation, CustomResourceEvent, type ResponseTarget } from './respond.ts';

/**
 * A Lambda-backed custom resource that always answers: success with what the work
 * returned, FAILED with the error's message on any error (a bad event, a failed setup, a
 * refusal), and FAILED shortly before the function would time out. A request never
 * answered holds the deploy for an hour.
 */

export interface CustomResourceResult {
  /** Default: the request's own (Update, Delete) or the logical id (Create). */
  physicalResourceId?: string;
  data?: Record<string, string>;
}

export type CustomResourceWork = (event: CustomResourceEvent) => Promise<CustomResourceResult | undefined>;

export interface CustomResourceOptions {
  log: Logger;
  fetch?: typeof fetch;
  /** What is left of the invocation: the answer goes out this long before it runs out. */
  marginMs?: number;
}

/** What a Lambda context gives: only the time left is used. */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

export function customResourceHandler(
  work: CustomResourceWork,
  options: CustomResourceOptions,
): (event: unknown, context?: InvocationContext) => Promise<void> {
  return async (raw, context) => {
    const target = responseTarget(raw);
    if (!target) {
      options.log.error('custom resource request without a ResponseURL: nothing can be answered');
      throw new Error(
        'not a CloudFormation custom resource request: no ResponseURL, StackId, RequestId or LogicalResourceId',
      );
    }
    const parsed = CustomResourceEvent.safeParse(raw);
    const fields = { logicalResourceId: target.LogicalResourceId, requestId: target.RequestId };
    const fallbackId = (raw as { PhysicalResourceId?: string }).PhysicalResourceId ?? target.LogicalResourceId;
    const answer = async (status: 'SUCCESS' | 'FAILED', result: CustomResourceResult = {}, reason?: string) => {
      await answerCloudFormation(
        target,
        { status, reason, physicalResourceId: result.physicalResourceId ?? fallbackId, data: result.data },
        options.fetch,
      );
      options.log.info('answered CloudFormation', { ...fields, status });
    };
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const reason = `not a valid custom resource request: ${issue?.path.join('.') || 'event'}: ${issue?.message ?? 'invalid'}`;
      return answer('FAILED', {}, reason);
    }
    options.log.info('custom resource request', { ...fields, requestType: parsed.data.RequestType });
    try {
      const result = await withDeadline(work(parsed.data), deadlineMs(context, options.marginMs ?? 10_000));
      await answer('SUCCESS', result ?? {});
    } catch (error) {
      options.log.error('custom resource request failed', { ...fields, error: errorMessage(error) });
      await answer('FAILED', {}, errorMessage(error));
    }
  };
}

function responseTarget(raw: unknown): ResponseTarget | undefined {
  const event = (raw ?? {}) as Record<string, unknown>;
  const keys = ['ResponseURL', 'StackId', 'RequestId', 'LogicalResourceId'] as const;
  if (!keys.every((key) => typeof event[key] === 'string' && event[key] !== '')) return undefined;
  return Object.fromEntries(keys.map((key) => [key, event[key]])) as unknown as ResponseTarget;
}

function deadlineMs(context: InvocationContext | undefined, marginMs: number): number | undefined {
  const left = context?.getRemainingTimeInMillis();
  return left === undefined ? undefined : Math.max(0, left - marginMs);
}

async function withDeadline<T>(work: Promise<T>, ms: number | undefined): Promise<T> {
  if (ms === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`did not finish within the function's time (${Math.round(ms / 1000)} s were left)`)),
      ms,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
