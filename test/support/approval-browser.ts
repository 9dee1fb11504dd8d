import { chromium, type Browser } from 'playwright-core';
import { startHttpServer, type LocalHttpServer } from '../../cli/http-server.ts';
import type { LocalHost } from '../../cli/local/host.ts';
import { createApi } from '../../functions/http/api/index.ts';
import { testHost } from './local-host.ts';

/** A local host over `org`, its API on 127.0.0.1 as the mailed links' address, and Debian's Chromium to open them. */
export interface ApprovalBrowserRig {
  host: LocalHost & { stateDir: string };
  server: LocalHttpServer;
  browser: Browser;
  close(): Promise<void>;
}

export async function approvalBrowserRig(org: string, token: string): Promise<ApprovalBrowserRig> {
  const host = await testHost(org);
  const server = await startHttpServer({
    app: createApi({ ...host.deps, executions: host.executions, secrets: host.secrets }).handle,
    token,
    user: 'tester',
  });
  host.setPublicUrl(server.url);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox'],
    headless: true,
  });
  return {
    host,
    server,
    browser,
    close: async () => {
      await browser.close();
      await server.close();
      await host.close();
    },
  };
}
