import { Aws } from 'aws-cdk-lib';
import {
  CfnFirewallDomainList,
  CfnFirewallRuleGroup,
  CfnFirewallRuleGroupAssociation,
} from 'aws-cdk-lib/aws-route53resolver';
import { Construct } from 'constructs';
import { stackPrefix } from '../stack-names.ts';
import { SANDBOX_NAMESPACE } from './names.ts';

/**
 * Route 53 Resolver DNS Firewall on the sandboxes' VPC: names under AWS's domain (the
 * endpoints, ECR's layer bucket), the proxy's private namespace and the allowlisted hosts
 * resolve; every other query gets NXDOMAIN.
 */
export class SandboxDnsFirewall extends Construct {
  constructor(scope: Construct, id: string, props: { vpcId: string; hosts: string[] }) {
    super(scope, id);
    const names = new Set([`*.${Aws.URL_SUFFIX}`, SANDBOX_NAMESPACE, `*.${SANDBOX_NAMESPACE}`]);
    for (const host of props.hosts) names.add(host.replace(/:\d+$/, ''));
    const allowed = new CfnFirewallDomainList(this, 'Allowed', { domains: [...names] });
    const everything = new CfnFirewallDomainList(this, 'Everything', { domains: ['*'] });
    const rules = new CfnFirewallRuleGroup(this, 'Rules', {
      firewallRules: [
        // A CNAME chain from an allowed name (CDNs) is followed: the allowed name chose it.
        {
          firewallDomainListId: allowed.attrId,
          priority: 100,
          action: 'ALLOW',
          firewallDomainRedirectionAction: 'TRUST_REDIRECTION_DOMAIN',
        },
        { firewallDomainListId: everything.attrId, priority: 200, action: 'BLOCK', blockResponse: 'NXDOMAIN' },
      ],
    });
    new CfnFirewallRuleGroupAssociation(this, 'Association', {
      firewallRuleGroupId: rules.attrId,
      vpcId: props.vpcId,
      priority: 1000,
      name: `${stackPrefix(this, 54)}-sandboxes`,
    });
  }
}
