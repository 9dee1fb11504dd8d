import type { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { ConfigurationError, TransientError, ValidationError } from '../../core/errors.ts';

/** How every adapter on the table reads DynamoDB's errors. */

const TRANSIENT_ERROR_NAMES = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TransactionConflictException',
  'TransactionInProgressException',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
]);
export const TRANSIENT_CANCELLATION_CODES = new Set([
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
]);
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
]);

/** By name, not instanceof: a second copy of the SDK in node_modules has its own classes. */
export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const details = error as Error & { code?: string; $metadata?: { httpStatusCode?: number } };
  const status = details.$metadata?.httpStatusCode;
  return (
    TRANSIENT_ERROR_NAMES.has(error.name) ||
    (status !== undefined && status >= 500) ||
    (details.code !== undefined && NETWORK_ERROR_CODES.has(details.code))
  );
}

/** A conditional write whose condition failed: the caller's "no" answer, not an error. */
export function isConditionFailed(error: unknown): boolean {
  return errorName(error) === 'ConditionalCheckFailedException';
}

/** The codes of a cancelled transaction, or undefined for any other error. */
export function cancellationCodesOf(error: unknown): string[] | undefined {
  return errorName(error) === 'TransactionCanceledException'
    ? cancellationCodes(error as TransactionCanceledException)
    : undefined;
}

/**
 * One code per transaction item, in request order. The SDK parses `CancellationReasons`;
 * the message (`… reasons [ConditionalCheckFailed, None]`) is the fallback.
 */
export function cancellationCodes(error: TransactionCanceledException): string[] {
  if (error.CancellationReasons?.length) return error.CancellationReasons.map((reason) => reason.Code ?? 'None');
  const listed = /\[([^\]]*)\]\s*$/.exec(error.message)?.[1];
  return listed ? listed.split(',').map((code) => code.trim()) : [];
}

/**
 * What the state machine should do with a failed call: retry what may pass next time,
 * fail the run on everything else. Messages name the operation and the error, never data.
 */
export function storeError(tableName: string, operation: string, error: unknown): Error {
  const name = errorName(error);
  const message = error instanceof Error ? error.message : String(error);
  if (isTransient(error)) {
    return new TransientError(`DynamoDB ${operation} failed with ${name}: ${message}`, { cause: error });
  }
  if (name === 'ResourceNotFoundException') {
    return new ConfigurationError(`DynamoDB table ${tableName} does not exist (${operation})`, { cause: error });
  }
  if (name === 'ValidationException') {
    return new ValidationError(`DynamoDB rejected ${operation}: ${message}`, { cause: error });
  }
  return error instanceof Error ? error : new Error(`DynamoDB ${operation} failed: ${message}`);
}
