// Over-quota floods on the wire transport: an app limited to 2 requests/s that floods one
// connection gets HEARTH_ERR_RESOURCE_EXHAUSTED for the extras, answered (the agent pauses reading
// that connection only briefly, docs/api.md "Quotas"), while another app's connection keeps
// succeeding throughout. No timing thresholds: only codes and that every call is answered.
import test from 'ava';

import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { waitFor } from '../support/wait.js';

const LIMITED_TOKEN = 'limited-token-0123456789';
const FLOOD = 30;
const GET = 'hearth.runtime.v1.State/GetState';
let rt: InProcess<'wire'>;
test.before(async () => {
  rt = await startInProcess({
    transports: ['wire'],
    quotas: true,
    apps: [{ id: 'limited', token: LIMITED_TOKEN, quota: { requestsPerSecond: 2, burstSeconds: 1 } }],
  });
});
test.after.always(async () => {
  await rt?.close();
});

test('an app over its requests/s floods one connection: the extras are refused with RESOURCE_EXHAUSTED while another app keeps succeeding', async (t) => {
  const limited = rt.byId.limited;
  if (limited === undefined) throw new Error('app limited not started');
  const flooder = await rt.connect(limited.wire.socket);
  const quiet = await rt.connect(rt.demo.wire.socket);

  // Every request in one burst on one connection, all pipelined before any answer.
  const ids = Array.from({ length: FLOOD }, (_, i) => flooder.open(GET, { storeName: 'statestore', key: `k${i}` }, { token: LIMITED_TOKEN }));
  // Meanwhile the other app's calls on its own connection succeed, one after another.
  for (let i = 0; i < 10; i++) {
    const r = await quiet.call(GET, { storeName: 'statestore', key: `q${i}` }, { token: rt.demo.token });
    t.is(r.code, undefined, `quiet call ${i}: ${r.code ?? ''} ${r.header.errorMessage ?? ''}`);
  }

  const codes = await Promise.all(ids.map(async (id) => (await flooder.answer(id, GET)).code));
  const refused = codes.filter((c) => c === 'HEARTH_ERR_RESOURCE_EXHAUSTED').length;
  const admitted = codes.filter((c) => c === undefined).length;
  t.is(refused + admitted, FLOOD, `only OK or RESOURCE_EXHAUSTED: ${codes.join(',')}`);
  t.true(refused > 0, 'the extras are refused');
  t.true(admitted > 0, 'the quota admits some');
  t.false(flooder.isClosed, 'a refusal pauses the connection, it does not close it');

  // Once the bucket refills the same connection is served again.
  await waitFor(
    'an admitted call on the flooding connection',
    async () => ((await flooder.call(GET, { storeName: 'statestore', key: 'later' }, { token: LIMITED_TOKEN })).code === undefined ? true : undefined),
    { timeoutMs: 15_000, everyMs: 200 },
  );
  t.is((await quiet.call(GET, { storeName: 'statestore', key: 'end' }, { token: rt.demo.token })).code, undefined);
});
