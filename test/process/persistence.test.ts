// Data lives in the state dir, not in a worker: it survives a full stop and start.
import test from 'ava';
import { HttpClient } from '../helpers/http-client.js';
import { startHearth, type HearthProcess } from '../support/hearth-process.js';

let h: HearthProcess;

test.before(async () => {
  h = await startHearth();
});
test.after.always(async () => {
  await h?.stop();
});

test('state saved over HTTP is read back after a full restart', async (t) => {
  const save = new HttpClient(h.socket('demo', 'http'), { token: 'demo-token', keepAlive: false });
  const saved = await save.post('/v1.0/state/default', [
    { key: 'greeting', value: 'hello' },
    { key: 'order-1', value: { items: 3 } },
  ]);
  save.close();
  t.is(saved.status, 204, saved.text());

  await h.restart();

  const read = new HttpClient(h.socket('demo', 'http'), { token: 'demo-token', keepAlive: false });
  t.teardown(() => read.close());
  const greeting = await read.get('/v1.0/state/default/greeting');
  t.is(greeting.status, 200, greeting.text());
  t.is(greeting.json(), 'hello');
  t.deepEqual((await read.get('/v1.0/state/default/order-1')).json(), { items: 3 });
  // Another app does not see demo's keys.
  const other = new HttpClient(h.socket('other', 'http'), { token: 'other-token', keepAlive: false });
  t.teardown(() => other.close());
  t.is((await other.get('/v1.0/state/default/greeting')).status, 204);
});
