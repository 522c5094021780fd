// The SDK across agent hand-offs and restarts, against a real `hearth start`: a hot reload (the old
// generation drains with Goaway while the new one takes the same sockets) loses no unary call,
// serve() registers again with the new generation and a subscription resumes; after a full
// restart (agent gone for a while), the same client objects carry on by themselves.
import test from 'ava';
import { createClient, type HearthClient, isHearthClientError } from '@hearth/sdk';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';
import { adminHandoff } from '../helpers/upgrade-helpers.js';
import { waitFor } from '../support/wait.js';

let h: HearthProcess;
const clients: HearthClient[] = [];

test.before(async () => {
  const apps = [
    { id: 'demo', token: 'demo-token', allow: { apps: ['*'] } },
    { id: 'other', token: 'other-token', allow: { apps: ['*'] } },
  ];
  h = await startHearth({ config: { apps } });
});

test.after.always(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await h?.stop();
});

function client(appId: string): HearthClient {
  const c = createClient({ appId, token: `${appId}-token`, runDir: h.runDir, env: {} });
  clients.push(c);
  return c;
}

/** Invokes until it succeeds (serve() may be between streams), bounded. */
function invokeEventually(caller: HearthClient, body: string): Promise<string> {
  return waitFor(`invoke ${body}`, async () => (await caller.invoke('demo', 'echo', body, { timeoutMs: 2_000 })).text(), { timeoutMs: 30_000, everyMs: 100 });
}

test.serial('a hot reload loses no wire call; serve() and a subscription continue on the new generation', async (t) => {
  const callee = client('demo');
  const caller = client('other');
  const handle = callee.serve({ echo: (req) => `echo:${req.text()}` });
  await handle.ready;
  const firstInstance = handle.instanceId;
  t.is(await invokeEventually(caller, 'before'), 'echo:before');

  const topic = 'reload-topic';
  const sub = callee.pubsub.subscribe('default', topic);
  await sub.ready;
  const received: string[] = [];
  const consuming = (async () => {
    for await (const m of sub) {
      received.push(m.text());
      m.ack();
    }
  })();

  // Sequential idempotent calls while the generations swap.
  let reloading = true;
  const failures: string[] = [];
  let calls = 0;
  const loop = (async () => {
    while (reloading) {
      try {
        await caller.state.save('default', 'loop', { n: calls });
        await caller.state.get('default', 'loop');
        calls += 1;
      } catch (err) {
        failures.push(isHearthClientError(err) ? `${err.code} sent=${err.sent}: ${err.message}` : String(err));
      }
    }
  })();
  const reload = await adminHandoff(h, 'reload');
  reloading = false;
  await loop;
  t.is(reload.final?.result, 'ok');
  t.deepEqual(failures, [], 'no call failed during the hand-off');
  t.true(calls > 0);

  t.is(await invokeEventually(caller, 'after'), 'echo:after');
  await waitFor('serve() registered with the new generation', () => Promise.resolve(handle.instanceId !== '' && handle.instanceId !== firstInstance ? true : undefined));

  await waitFor('a message published after the reload', async () => {
    await caller.pubsub.publish('default', topic, 'after-reload', { raw: true });
    return received.includes('after-reload') ? true : undefined;
  }, { timeoutMs: 30_000, everyMs: 500 });
  sub.close();
  await consuming;
  await handle.close();
});

test.serial('after a full restart of the agent, the same client, serve() and subscription work again', async (t) => {
  const callee = client('demo');
  const caller = client('other');
  const handle = callee.serve({ echo: (req) => `echo:${req.text()}` });
  await handle.ready;
  const sub = callee.pubsub.subscribe('default', 'restart-topic');
  await sub.ready;
  const received: string[] = [];
  const consuming = (async () => {
    for await (const m of sub) {
      received.push(m.text());
      m.ack();
    }
  })();
  t.is(await invokeEventually(caller, 'one'), 'echo:one');

  await h.restart();

  t.false((await caller.state.get('default', 'never-written')).found, 'unary calls reconnect lazily');
  t.is(await invokeEventually(caller, 'two'), 'echo:two');
  await waitFor('a message published after the restart', async () => {
    await caller.pubsub.publish('default', 'restart-topic', 'after-restart', { raw: true });
    return received.includes('after-restart') ? true : undefined;
  }, { timeoutMs: 30_000, everyMs: 500 });
  sub.close();
  await consuming;
  await handle.close();
});
