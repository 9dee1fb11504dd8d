/**
 * Credential-shaped test values, assembled from parts so that this repository never holds a
 * literal that secret scanners (push protection, pre-commit hooks) would flag. None is real.
 */

const join = (...parts: string[]) => parts.join('');

export const AWS_KEY = join('AKIA', 'Z7QW3RT5YU8IOP2A');
export const ANTHROPIC_KEY = join('sk-', 'ant-', 'api03-', 'Xy7kQ2mN9pL4vB8cR1tW6zH3jF5dG0sA-bC_dE');
export const OPENAI_KEY = join('sk-', 'proj-', 'Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z');
export const GITHUB_TOKEN = join('gh', 'p_', 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8');
export const GITHUB_PAT = join('github', '_pat_', '11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz');
export const SLACK_TOKEN = join('xo', 'xb-', '1234567890-0987654321-AbCdEfGhIjKlMnOp');
export const GOOGLE_KEY = join('AI', 'za', 'SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q');
/** The header is {"alg":"HS256","typ":"JWT"}: the well-known example token from jwt.io. */
export const JWT = join(
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9',
  '.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ',
  '.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
);

const BODY = [
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj',
  'MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu',
  'NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ',
];
export const PRIVATE_KEY = join(
  '-----BEGIN ',
  'RSA PRIVATE KEY-----\n',
  BODY.join('\n'),
  '\n-----END ',
  'RSA PRIVATE KEY-----',
);
export const PRIVATE_KEY_HEAD = join('-----BEGIN ', 'PRIVATE KEY-----\n', BODY.join('\n'));
