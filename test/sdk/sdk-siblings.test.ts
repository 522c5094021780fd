// createClient() with siblings from the environment (HEARTH_SIBLINGS, HEARTH_SIBLING_CA) against
// two real hosts: the client wraps its wire transport in the failover transport, and when host 1's
// agent is killed its typed calls — state and invoke, served by an app on host 2 — carry on there.
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { parse } from 'yaml';
import { createClient, type FailoverEvent, type HearthClient } from '@hearth/sdk';

import { CALLEE_TOKEN, CALLER_TOKEN, startTwoHosts, type TwoHosts } from '../helpers/two-hosts.js';
import { waitFor } from '../support/wait.js';

let hosts: TwoHosts | undefined;
const clients: HearthClient[] = [];

test.before(async () => {
  hosts = await startTwoHosts({ workers: 1 });
});

test.after.always(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await hosts?.close();
});

async function siblingPort(configPath: string): Promise<number> {
  const config = parse(await readFile(configPath, 'utf8')) as { siblings: { listen: { port: number } } };
  return config.siblings.listen.port;
}

test('a client configured with HEARTH_SIBLINGS fails over to host 2 when host 1 dies: state and invoke carry on', async (t) => {
  const { host1, host2, tls } = hosts as TwoHosts;
  const port2 = await siblingPort(host2.configPath);
  const callee = createClient({ appId: 'callee', token: CALLEE_TOKEN, runDir: host2.runDir, env: {} });
  clients.push(callee);
  const handle = callee.serve({ where: () => 'host-2' });
  await handle.ready;

  const caller = createClient({
    env: {
      HEARTH_APP_ID: 'caller',
      HEARTH_TOKEN: CALLER_TOKEN,
      HEARTH_RUN_DIR: host1.runDir,
      HEARTH_SIBLINGS: `127.0.0.1:${port2}`,
      HEARTH_SIBLING_CA: tls.caFile,
      HEARTH_SIBLING_SERVERNAME: 'localhost',
    },
  });
  clients.push(caller);
  t.truthy(caller.failover, 'siblings configured: calls go through the failover transport');
  await caller.state.save('default', 'k', 'v1');
  t.is((await caller.state.get('default', 'k')).text(), 'v1');

  const events: FailoverEvent[] = [];
  caller.failover?.on('failover', (e: FailoverEvent) => events.push(e));
  await host1.kill9();

  const answer = await waitFor('invoke through host 2', async () => (await caller.invoke('callee', 'where', '', { idempotent: true, timeoutMs: 2_000 })).text(), { timeoutMs: 30_000, everyMs: 100 });
  t.is(answer, 'host-2');
  // Host 2 has its own state directory: the key saved on host 1 is not there, but the call works.
  t.false((await caller.state.get('default', 'k')).found);
  t.true(events.length >= 1);
  t.is(events[0]?.to, `sibling:127.0.0.1:${port2}`);
  await handle.close();
});
