import type { Clock } from '../../core/ports/clock.ts';
import type { Logger } from '../../core/ports/logger.ts';
import type { Decision } from './http.ts';

/** What one connection's log line says. No path, query, header or body ever goes here. */
export interface Connection {
  method: string;
  agent?: string;
  sandbox?: string;
  host?: string;
  port?: number;
  startedAt: number;
  bytesUp: number;
  bytesDown: number;
  logged: boolean;
}

export interface ConnectionLog {
  begin(method: string): Connection;
  /** The connection's one log line (a second call does nothing). */
  finish(connection: Connection, decision: Decision, status: number, reason?: string): void;
}

/** One JSON log line per connection: who, where, the decision, bytes each way and how long. */
export function connectionLog(clock: Clock, log: Logger): ConnectionLog {
  const now = () => clock.now().getTime();
  return {
    begin: (method) => ({ method, startedAt: now(), bytesUp: 0, bytesDown: 0, logged: false }),
    finish(connection, decision, status, reason) {
      if (connection.logged) return;
      connection.logged = true;
      const line = {
        agent: connection.agent,
        sandbox: connection.sandbox,
        method: connection.method,
        host: connection.host,
        port: connection.port,
        decision,
        status,
        ...(reason === undefined ? {} : { reason }),
        bytesUp: connection.bytesUp,
        bytesDown: connection.bytesDown,
        durationMs: Math.max(0, now() - connection.startedAt),
      };
      if (decision === 'failed') log.warn('egress', line);
      else log.info('egress', line);
    },
  };
}
