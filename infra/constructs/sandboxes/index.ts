/** The run sandboxes' constructs (one per file) and the pure helpers they size and name things with. */
export { egressAllowlists, proxyPorts, sandboxAgents } from './catalog.ts';
export { SandboxDnsFirewall } from './dns-firewall.ts';
export { EgressProxy, type EgressProxyProps } from './egress-proxy.ts';
export { classifyImage, type ImageSource } from './images.ts';
export {
  DEFAULT_SANDBOX_IDLE_SECONDS,
  DEFAULT_SANDBOX_MAX_SECONDS,
  EGRESS_PROXY_ADDRESS,
  EGRESS_PROXY_SERVICE,
  INIT_CONTAINER,
  SANDBOX_NAMESPACE,
} from './names.ts';
export { SandboxNetwork, type SandboxNetworkProps } from './network.ts';
export { SandboxRepositories } from './repositories.ts';
export { S3PrefixList } from './s3-prefix-list.ts';
export { Sandboxes, type SandboxesProps } from './sandboxes.ts';
export { ephemeralStorageGiB, fargateSize, fileSizeLimit, workspaceUlimits, type Ulimit } from './sizing.ts';
export { SandboxTasks, type SandboxTasksProps } from './tasks.ts';
