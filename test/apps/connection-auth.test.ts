// ConnectionAuth: a connection that repeats the token it proved is not hashed again, but a
// different token on it — or the same token after the app's token changed (a reload) — is
// checked afresh, so the memo never admits what AppRegistry.authenticate would refuse.
import test from 'ava';
import { createHash } from 'node:crypto';
import { AppRegistry, ConnectionAuth } from '../../agent/apps/app-registry.js';
import type { AppConfig } from '../../agent/config/load-config.js';

const sha = (token: string): string => createHash('sha256').update(token).digest('hex');
const app = (token: string): AppConfig => ({ id: 'orders', tokenSha256: sha(token) }) as unknown as AppConfig;

test('the proven token passes again; another token on the same connection is refused', (t) => {
  const orders = app('right-token');
  const apps = new AppRegistry([orders]);
  const auth = new ConnectionAuth();
  auth.authenticate(apps, orders, 'right-token');
  t.notThrows(() => auth.authenticate(apps, orders, 'right-token'));
  t.throws(() => auth.authenticate(apps, orders, 'wrong-token'), { message: /invalid token/ });
  t.throws(() => auth.authenticate(apps, orders, undefined), { message: /missing app token/ });
  // A refusal forgets the proof: the right token is checked (and passes) again.
  t.notThrows(() => auth.authenticate(apps, orders, 'right-token'));
});

test('after the app token changes, the old token is refused on a connection that had proved it', (t) => {
  const before = app('old-token');
  const auth = new ConnectionAuth();
  auth.authenticate(new AppRegistry([before]), before, 'old-token');
  const after = app('new-token');
  const apps = new AppRegistry([after]);
  t.throws(() => auth.authenticate(apps, after, 'old-token'), { message: /invalid token/ });
  t.notThrows(() => auth.authenticate(apps, after, 'new-token'));
});

test('a fresh connection proves nothing: a wrong token is refused on its first request', (t) => {
  const orders = app('right-token');
  t.throws(() => new ConnectionAuth().authenticate(new AppRegistry([orders]), orders, 'right-tokeN'), { message: /invalid token/ });
});

test('sibling port: a connection that proved the cluster token forwards again without a hash; any other token is still checked', async (t) => {
  const { siblingPrincipal } = await import('../../agent/mesh/forward-policy.js');
  const cluster = 'cluster-token-0123456789abcdef0123456789';
  const clusterSha = Buffer.from(sha(cluster), 'hex');
  const apps = new AppRegistry([app('right-token')]);
  const proof = {};
  t.is(siblingPrincipal({ caller: 'orders', token: cluster }, apps, clusterSha, proof).kind, 'agent');
  t.is(siblingPrincipal({ caller: 'billing', token: cluster }, apps, clusterSha, proof).kind, 'agent');
  t.throws(() => siblingPrincipal({ caller: 'orders', token: `${cluster.slice(0, -1)}X` }, apps, clusterSha, proof), { message: /neither the cluster token/ });
  // Without a configured cluster token nothing a connection sent earlier makes it an agent.
  t.throws(() => siblingPrincipal({ caller: 'orders', token: cluster }, apps, undefined, proof), { message: /neither the cluster token/ });
});
