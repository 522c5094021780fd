// Streams through failover, with real agents (test/helpers/two-hosts.ts) and the SDK as apps get
// it (createClient): the callee app lives on host 1 with host 2 as its sibling and serve()s
// `whoami`; the caller app on host 2 invokes it. When host 1 dies the callee's callback stream
// ends with a retryable error, serve() opens it again — on host 2 now — and the caller's calls
// are answered there; when host 1 is back the failback ends the stream on host 2 and serve()
// registers on host 1 again.
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { parse as parseYaml } from 'yaml';
import { createClient, type FailoverEvent, type HearthClient } from '@hearth/sdk';
import { type HearthProcess } from '../support/hearth-process.js';
import { CALLEE_TOKEN, CALLER_TOKEN, startTwoHosts, type TwoHosts } from '../helpers/two-hosts.js';
import { waitFor } from '../support/wait.js';

let hosts: TwoHosts | undefined;
const clients: HearthClient[] = [];

test.after.always(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await hosts?.close();
});

async function siblingPort(host: HearthProcess): Promise<number> {
  const config = parseYaml(await readFile(host.configPath, 'utf8')) as { siblings: { listen: { port: number } } };
  return config.siblings.listen.port;
}

/** Invokes the callee from host 2 until it answers; returns the answer. */
async function answerFromCallee(caller: HearthClient, what: string): Promise<string> {
  return waitFor(what, async () => {
    try {
      return (await caller.invoke('callee', 'whoami', '', { idempotent: true, timeoutMs: 2_000 })).text();
    } catch {
      return undefined;
    }
  });
}

test('serve() on a failed-over client moves its callback stream to the sibling and back: invocations are answered on host 2 while host 1 is down and on host 1 once it is back', async (t) => {
  hosts = await startTwoHosts({ workers: 2 });
  const { host1, host2, tls } = hosts;
  const ca = await readFile(tls.caFile, 'utf8');
  const callee = createClient({
    appId: 'callee',
    token: CALLEE_TOKEN,
    runDir: host1.runDir,
    siblings: [{ name: 'host-2', host: '127.0.0.1', port: await siblingPort(host2) }],
    siblingTls: { ca },
    env: {},
  });
  clients.push(callee);
  const caller = createClient({ appId: 'caller', token: CALLER_TOKEN, runDir: host2.runDir, env: {} });
  clients.push(caller);
  const failover = callee.failover;
  if (!failover) return t.fail('a client with siblings has a failover transport');

  let served = 0;
  const serving = callee.serve({
    whoami: () => {
      served += 1;
      return `callee, through ${failover.stats().current ?? 'none'}`;
    },
  });
  await serving.ready;
  // Host 2 has no callee of its own: it forwards to host 1, where the callee registered.
  t.regex(await answerFromCallee(caller, 'the callee answers through host 1'), /through wire:/);

  const moved = new Promise<FailoverEvent>((resolve) => failover.once('failover', resolve));
  await host1.kill9();
  const event = await moved;
  const t0 = Date.now();
  t.is(event.to, 'sibling:host-2');
  // serve() reopened its stream through the failover transport: it is registered on host 2 now.
  t.regex(await answerFromCallee(caller, 'the callee answers through host 2'), /through sibling:host-2/);
  t.log(`answered through host 2 ${Date.now() - t0} ms after the failover`);

  const back = new Promise<FailoverEvent>((resolve) => failover.once('failback', resolve));
  await host1.restart();
  t.log(`host 1 restarted ${Date.now() - t0} ms after the failover`);
  await back;
  t.true(failover.stats().streamsMoved >= 1, 'the callback stream on host 2 was ended so that it moves back');
  await waitFor('the callee registered on host 1 again', async () => {
    const answer = await answerFromCallee(caller, 'an answer');
    return /through wire:/.test(answer) ? true : undefined;
  });
  t.log(`answered through host 1 again ${Date.now() - t0} ms after the failover`);
  t.true(served > 0);
  t.log(`callee failover stats: ${JSON.stringify({ ...failover.stats(), lastFailover: undefined, lastFailback: undefined })}`);
});
