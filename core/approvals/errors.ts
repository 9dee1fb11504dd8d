/**
 * Why a decision was refused, with the HTTP status the pages and the API answer. Every
 * one of these changes nothing.
 */
export type RefusalCode =
  | 'not_found'
  | 'invalid_link'
  | 'link_expired'
  | 'expired'
  | 'already_decided'
  | 'run_not_waiting'
  | 'not_allowed'
  | 'forged'
  | 'missing_field'
  | 'unavailable';

const STATUS: Record<RefusalCode, number> = {
  not_found: 404,
  invalid_link: 403,
  link_expired: 410,
  expired: 410,
  already_decided: 409,
  run_not_waiting: 409,
  not_allowed: 403,
  forged: 403,
  missing_field: 400,
  unavailable: 503,
};

export class ApprovalRefusedError extends Error {
  override name = 'looprail.ApprovalRefused';
  readonly code: RefusalCode;
  readonly status: number;

  constructor(code: RefusalCode, message: string) {
    super(message);
    this.code = code;
    this.status = STATUS[code];
  }
}

/** The execution no longer waits on the token (it timed out or was stopped): raised by TaskTokenSender adapters. */
export class TaskGoneError extends Error {
  override name = 'looprail.TaskGone';
}
