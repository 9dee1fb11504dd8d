import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';

/**
 * The box's DNS inside a Lambda container: HTTPS requests to the public hosts the box stands in
 * for (CloudFormation's pre-signed response URLs) go to a local HTTP listener, same path and
 * query, whether the handler uses `fetch` or `https.request` (CDK's own handlers do, and drop
 * any port of the URL). Every other request is left alone.
 */
export function routeHostsToBox(hosts: Record<string, string>): void {
  if (Object.keys(hosts).length === 0) return;
  const local = (host: string | null | undefined) => (host ? hosts[host] : undefined);

  const fetchAnywhere = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const target = local(url.hostname);
    if (!target) return fetchAnywhere(input, init);
    const rerouted = new URL(`${url.pathname}${url.search}`, target);
    return input instanceof Request ? fetchAnywhere(new Request(rerouted, input), init) : fetchAnywhere(rerouted, init);
  };

  const requestAnywhere = https.request;
  https.request = ((...args: unknown[]) => {
    const [first, second] = args;
    const url = typeof first === 'string' || first instanceof URL ? new URL(first) : undefined;
    const options = (
      url ? (typeof second === 'object' && second !== null ? second : {}) : first
    ) as http.RequestOptions;
    const target = local(url?.hostname ?? options.hostname ?? options.host?.split(':')[0]);
    if (!target) return (requestAnywhere as (...all: unknown[]) => http.ClientRequest)(...args);
    const { hostname, port } = new URL(target);
    const path = url ? `${url.pathname}${url.search}` : options.path;
    const callback = args.find((arg) => typeof arg === 'function') as ((res: http.IncomingMessage) => void) | undefined;
    return http.request(
      { ...options, protocol: 'http:', hostname, host: undefined, port, path, agent: undefined },
      callback,
    );
  }) as typeof https.request;
  // `import { request } from 'node:https'` reads the named export: bring it in line with the object.
  syncBuiltinESMExports();
}
