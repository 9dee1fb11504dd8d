import { describe, expect, it } from 'vitest';
import { classifyImage } from '../../infra/constructs/sandboxes/images.ts';

describe('sandbox image sources', () => {
  it('tells ECR Public, private ECR and other registries apart', () => {
    expect(classifyImage('public.ecr.aws/docker/library/node:22-bookworm-slim')).toEqual({
      kind: 'ecr-public',
      repository: 'docker/library/node',
      reference: ':22-bookworm-slim',
    });
    expect(classifyImage(`public.ecr.aws/acme/tools@sha256:${'a'.repeat(64)}`)).toEqual({
      kind: 'ecr-public',
      repository: 'acme/tools',
      reference: `@sha256:${'a'.repeat(64)}`,
    });
    expect(classifyImage('123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/tools:1.2')).toEqual({
      kind: 'ecr',
      account: '123456789012',
      region: 'eu-west-1',
      repository: 'team/tools',
      reference: ':1.2',
    });
    expect(classifyImage('node:22')).toEqual({ kind: 'other', registry: 'docker.io' });
    expect(classifyImage('library/python')).toEqual({ kind: 'other', registry: 'docker.io' });
    expect(classifyImage('ghcr.io/acme/tools:1')).toEqual({ kind: 'other', registry: 'ghcr.io' });
    expect(classifyImage('localhost:5000/tools')).toEqual({ kind: 'other', registry: 'localhost:5000' });
  });
});
