// Authentication on the TLS sibling port (issue 12, hole 12): the port does not tell an unknown
// app from a wrong token, a connection is closed after siblings.maxAuthFailures failed
// authentications, and app tokens shorter than 32 characters are refused there (they still work
// on the app's own wire.sock, where the socket is the identity).
import test from 'ava';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import type { WireTestClient } from '../helpers/wire-test-client.js';

const GET = 'hearth.runtime.v1.State/GetState';
const REQ = { storeName: 'statestore', key: 'k' };
const SHORT_TOKEN = 'short-token-8901'; // 16 characters: fine for a socket, not for the network
const WRONG_TOKEN = 'wrong-token-0123456789abcdef0123456789';
let rt: InProcess<'wire'>;

test.before(async () => {
  rt = await startInProcess({ transports: ['wire'], apps: [{ id: 'shorty', token: SHORT_TOKEN }] });
});
test.after.always(async () => {
  await rt?.close();
});

async function closedForFailures(): Promise<number> {
  return (await rt.metrics.siblingRefused.get()).values.find((v) => v.labels.reason === 'auth_failures')?.value ?? 0;
}

/** One Request on a fresh sibling connection (failures are counted per connection). */
async function once(header: { token?: string; caller?: string }): Promise<{ code: string | undefined; message: string | undefined; client: WireTestClient }> {
  const client = await rt.connectSibling();
  const a = await client.call(GET, REQ, header);
  return { code: a.code, message: a.header.errorMessage, client };
}

test('an unknown app and a wrong token get the same code and message: the port lists no apps', async (t) => {
  const wrongToken = await once({ token: WRONG_TOKEN, caller: 'demo' });
  const unknownApp = await once({ token: WRONG_TOKEN, caller: 'nobody' });
  const anotherAppsToken = await once({ token: rt.demo.token, caller: 'nobody' });
  const tokenOfAnotherApp = await once({ token: rt.other.token, caller: 'demo' });
  for (const r of [wrongToken, unknownApp, anotherAppsToken, tokenOfAnotherApp]) {
    t.is(r.code, 'HEARTH_ERR_UNAUTHENTICATED');
    t.is(r.message, wrongToken.message);
  }
  t.is((await once({ token: rt.demo.token, caller: 'demo' })).code, undefined);
});

test.serial('after maxAuthFailures (3) failed authentications the connection gets Goaway HEARTH_ERR_UNAUTHENTICATED and closes, even one that authenticated before; counted', async (t) => {
  const before = await closedForFailures();
  const c = await rt.connectSibling();
  t.is((await c.call(GET, REQ, { token: rt.demo.token, caller: 'demo' })).code, undefined);
  t.is((await c.call(GET, REQ, { token: WRONG_TOKEN, caller: 'other' })).code, 'HEARTH_ERR_UNAUTHENTICATED');
  t.is((await c.call(GET, REQ, { token: WRONG_TOKEN, caller: 'nobody' })).code, 'HEARTH_ERR_UNAUTHENTICATED');
  // Two failures: still open, and still serving what it authenticated for.
  t.is((await c.call(GET, REQ, { token: rt.demo.token, caller: 'demo' })).code, undefined);
  t.false(c.isClosed);
  t.is((await c.call(GET, REQ, { token: WRONG_TOKEN, caller: 'demo' })).code, 'HEARTH_ERR_UNAUTHENTICATED');
  const goaway = await c.goaway();
  t.is(goaway.header.errorCode, 'HEARTH_ERR_UNAUTHENTICATED');
  await c.closed;
  t.is((await closedForFailures()) - before, 1);
  // Other connections carry on.
  t.is((await once({ token: rt.demo.token, caller: 'demo' })).code, undefined);
});

test('a connection that never authenticates is closed at its third failure too', async (t) => {
  const c = await rt.connectSibling();
  for (const header of [{ token: WRONG_TOKEN, caller: 'demo' }, { caller: 'demo' }, { token: SHORT_TOKEN, caller: 'shorty' }]) {
    t.is((await c.call(GET, REQ, header)).code, 'HEARTH_ERR_UNAUTHENTICATED');
  }
  t.is((await c.goaway()).header.errorCode, 'HEARTH_ERR_UNAUTHENTICATED');
  await c.closed;
});

test('an app token shorter than 32 characters works on the app\'s wire.sock but is refused on the sibling port, with the minimum in the details', async (t) => {
  const local = await rt.connect(rt.byId.shorty!.wire.socket);
  t.is((await local.call(GET, REQ, { token: SHORT_TOKEN })).code, undefined);
  const r = await once({ token: SHORT_TOKEN, caller: 'shorty' });
  t.is(r.code, 'HEARTH_ERR_UNAUTHENTICATED');
  t.regex(r.message ?? '', /32 characters/);
  const answer = await r.client.call(GET, REQ, { token: SHORT_TOKEN, caller: 'shorty' });
  t.is(answer.header.metadata?.['detail.minTokenLength'], '32');
});
