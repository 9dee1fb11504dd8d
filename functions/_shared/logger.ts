import type { Logger } from '../../core/ports/logger.ts';

/**
 * The same logger with fields on every line: the step handlers bind the run id and the
 * step, so what the core logs from inside a step says which run and step it was.
 */
export function withFields(log: Logger, fields: Record<string, unknown>): Logger {
  return {
    info: (message, more) => log.info(message, { ...fields, ...more }),
    warn: (message, more) => log.warn(message, { ...fields, ...more }),
    error: (message, more) => log.error(message, { ...fields, ...more }),
  };
}
