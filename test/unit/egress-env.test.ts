import { describe, expect, it } from 'vitest';
import { egressEnv } from '../../containers/egress-proxy/main.ts';
import { ConfigurationError } from '../../core/errors.ts';

/** The egress proxy container's environment: parsed once at start, every problem named. */

const problem = (env: Record<string, string | undefined>) => {
  try {
    egressEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  }
  throw new Error('expected the environment to be refused');
};

describe('egressEnv', () => {
  it('reads the allowlists and the signing secret name, with defaults', () => {
    const env = egressEnv({
      LOOPRAIL_EGRESS_ALLOWLISTS: JSON.stringify({ maker: ['registry.npmjs.org', '*.github.com', 'example.com:8443'] }),
    });
    expect(env).toEqual({
      LOOPRAIL_EGRESS_ALLOWLISTS: { maker: ['registry.npmjs.org', '*.github.com', 'example.com:8443'] },
      LOOPRAIL_SANDBOX_SIGNING_SECRET: 'looprail/sandbox-signing-key',
      LOOPRAIL_LOG_LEVEL: 'info',
    });
    expect(
      egressEnv({ LOOPRAIL_EGRESS_ALLOWLISTS: '{}', LOOPRAIL_SANDBOX_SIGNING_SECRET: 'team/egress-key' })
        .LOOPRAIL_SANDBOX_SIGNING_SECRET,
    ).toBe('team/egress-key');
  });

  it('names the variable when it is missing or not JSON', () => {
    expect(problem({})).toBe(
      `the egress proxy's environment is invalid: LOOPRAIL_EGRESS_ALLOWLISTS: expected JSON { "<agent>": ["host", "*.suffix", "host:port"] }`,
    );
    expect(problem({ LOOPRAIL_EGRESS_ALLOWLISTS: '{maker: [' })).toContain('LOOPRAIL_EGRESS_ALLOWLISTS: expected JSON');
  });

  it('names bad agents and lists in the JSON', () => {
    const message = problem({
      LOOPRAIL_EGRESS_ALLOWLISTS: JSON.stringify({ Maker: ['a.example.com'], checker: [], other: 'x.example.com' }),
    });
    expect(message).toContain('Maker: expected agent names as keys');
    expect(message).toContain('checker: expected at least one host');
    expect(message).toContain('other: expected a list of hosts');
  });

  it('names every bad entry with its agent', () => {
    const message = problem({
      LOOPRAIL_EGRESS_ALLOWLISTS: JSON.stringify({ maker: ['ok.example.com', 'bad host', 'x.example.com:70000'] }),
    });
    expect(message).toContain('agent maker: "bad host" is not a host, *.suffix or host:port entry');
    expect(message).toContain('agent maker: "x.example.com:70000" needs a port from 1 to 65535 after the colon');
  });

  it('refuses an unknown log level', () => {
    expect(problem({ LOOPRAIL_EGRESS_ALLOWLISTS: '{}', LOOPRAIL_LOG_LEVEL: 'loud' })).toContain('LOOPRAIL_LOG_LEVEL');
  });
});
