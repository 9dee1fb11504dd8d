import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BoxAccount } from './model.ts';
import { BoxTemplate } from './template.ts';

/**
 * The template reader on the sandboxes' network as CDK writes it: EC2 and Route 53 Resolver
 * ids shaped as AWS makes them, the attributes the stack reads, and a custom resource's
 * answer read only once it has run.
 */

const account: BoxAccount = { accountId: '123456789012', region: 'us-east-1', partition: 'aws', stackName: 'Looprail' };

function network() {
  return new BoxTemplate(
    account,
    {
      Resources: {
        Vpc: { Type: 'AWS::EC2::VPC', Properties: { CidrBlock: '10.0.0.0/16' } },
        Subnet: { Type: 'AWS::EC2::Subnet', Properties: { VpcId: { Ref: 'Vpc' } } },
        Tasks: { Type: 'AWS::EC2::SecurityGroup', Properties: { VpcId: { Ref: 'Vpc' } } },
        Allowed: { Type: 'AWS::Route53Resolver::FirewallDomainList', Properties: {} },
        Rules: {
          Type: 'AWS::Route53Resolver::FirewallRuleGroup',
          Properties: { FirewallRules: [{ FirewallDomainListId: { 'Fn::GetAtt': ['Allowed', 'Id'] } }] },
        },
        Lookup: { Type: 'Custom::AWS', Properties: {} },
        ToS3: {
          Type: 'AWS::EC2::SecurityGroupEgress',
          Properties: {
            GroupId: { 'Fn::GetAtt': ['Tasks', 'GroupId'] },
            CidrIp: { 'Fn::GetAtt': ['Vpc', 'CidrBlock'] },
            DestinationPrefixListId: { 'Fn::GetAtt': ['Lookup', 'PrefixLists.0.PrefixListId'] },
          },
        },
      },
    },
    '/nowhere',
    'test',
  );
}

describe('the template reader on the sandboxes network', () => {
  it('gives EC2 and resolver resources ids shaped as AWS makes them, and the attributes the stack reads', () => {
    const template = network();
    expect(template.ref('Vpc')).toMatch(/^vpc-[0-9a-f]{17}$/);
    expect(template.ref('Subnet')).toMatch(/^subnet-[0-9a-f]{17}$/);
    expect(template.properties('Subnet').VpcId).toBe(template.ref('Vpc'));
    expect(template.getAtt('Tasks', 'GroupId')).toMatch(/^sg-[0-9a-f]{17}$/);
    expect(template.getAtt('Tasks', 'GroupId')).toBe(template.ref('Tasks'));
    expect(template.getAtt('Vpc', 'CidrBlock')).toBe('10.0.0.0/16');
    expect(template.properties('Rules').FirewallRules[0].FirewallDomainListId).toMatch(/^rslvr-fdl-[0-9a-f]{17}$/);
  });

  it("reads a custom resource's attribute from its Create answer, and refuses before it has run or for a key it did not answer", () => {
    const template = network();
    expect(() => template.properties('ToS3')).toThrow(
      'Lookup: Fn::GetAtt PrefixLists.0.PrefixListId before the custom resource has run',
    );
    template.customResourceData.set('Lookup', { Other: 'x' });
    expect(() => template.properties('ToS3')).toThrow(
      'Lookup: the custom resource answered no PrefixLists.0.PrefixListId (its Data: Other)',
    );
    template.customResourceData.set('Lookup', { 'PrefixLists.0.PrefixListId': 'pl-63a5400a' });
    expect(template.properties('ToS3').DestinationPrefixListId).toBe('pl-63a5400a');
  });

  it('fails loudly for an attribute it does not know', () => {
    expect(() => network().getAtt('Subnet', 'AvailabilityZone')).toThrow(
      'Subnet: the box does not know AWS::EC2::Subnet.AvailabilityZone',
    );
  });

  it('lists the single-file assets cdk deploy publishes, in the bootstrap bucket of this account and Region', () => {
    const outDir = mkdtempSync(join(tmpdir(), 'looprail-box-assets-'));
    const destination = (objectKey: string) => ({
      box: { bucketName: 'cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}', objectKey },
    });
    writeFileSync(
      join(outDir, 'Looprail.assets.json'),
      JSON.stringify({
        files: {
          repo: { source: { path: 'asset.repo.tar.gz', packaging: 'file' }, destinations: destination('repo.gz') },
          bundle: { source: { path: 'asset.bundle', packaging: 'zip' }, destinations: destination('bundle.zip') },
        },
      }),
    );
    const template = new BoxTemplate(account, { Resources: {} }, outDir);
    expect(template.fileAssets()).toEqual([
      {
        bucket: 'cdk-hnb659fds-assets-123456789012-us-east-1',
        key: 'repo.gz',
        path: join(outDir, 'asset.repo.tar.gz'),
      },
    ]);
  });
});
