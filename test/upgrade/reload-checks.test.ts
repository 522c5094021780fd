// What a reload may not change silently (ops-agent/upgrade/reload-checks.ts): the name, type,
// sharing, and the metadata that places a component's data inside its backend. Its address and
// its tuning change freely.
import test from 'ava';
import { parseConfig, type HearthConfig } from '../../agent/config/load-config.js';
import { dataHidingChanges } from '../../ops-agent/upgrade/reload-checks.js';

async function config(components: object[]): Promise<HearthConfig> {
  return parseConfig(JSON.stringify({ version: 1, apps: [{ id: 'demo', token: 'demo-token-0123456789abcdef0123456789' }], components }), '/etc/hearth/h.yaml');
}

const redis = (metadata: Record<string, unknown>, extra: object = {}): object => ({ name: 'cache', type: 'state.redis', metadata: { url: 'redis://10.0.0.1:6379', ...metadata }, ...extra });

test('renaming, retyping, sharing or moving a component\'s keys is refused, naming the component and what changed', async (t) => {
  const current = await config([redis({}), { name: 'default', type: 'state.sqlite' }]);
  const cases: [object[], RegExp][] = [
    [[redis({}, { name: 'cache2' }), { name: 'default', type: 'state.sqlite' }], /component "cache" \(state\) is renamed "cache2"/],
    [[redis({}), { name: 'default', type: 'state.sqlite', shared: true }], /component "default" changes shared false → true/],
    [[redis({ keyPrefix: 'other' }), { name: 'default', type: 'state.sqlite' }], /component "cache" changes where its data lives \(metadata keyPrefix\)/],
    [[redis({ db: 3 }), { name: 'default', type: 'state.sqlite' }], /metadata db/],
    [[redis({}), { name: 'default', type: 'state.sqlite', metadata: { path: 'other.db' } }], /component "default" changes where its data lives \(metadata path\)/],
  ];
  for (const [components, expected] of cases) {
    const problems = dataHidingChanges(current, await config(components));
    t.is(problems.length, 1, JSON.stringify(problems));
    t.regex(problems[0] ?? '', expected);
  }
});

test('a new server address, new tuning, and components added or removed alone are fine', async (t) => {
  const current = await config([redis({}), { name: 'default', type: 'state.sqlite' }]);
  t.deepEqual(dataHidingChanges(current, await config([redis({ url: 'redis://:secret@redis.internal:6379' }), { name: 'default', type: 'state.sqlite' }])), []);
  t.deepEqual(dataHidingChanges(current, await config([redis({ commandTimeoutMs: 500 }), { name: 'default', type: 'state.sqlite' }])), []);
  t.deepEqual(dataHidingChanges(current, await config([redis({})])), []);
  t.deepEqual(dataHidingChanges(current, await config([redis({}), { name: 'default', type: 'state.sqlite' }, { name: 'default', type: 'lock.sqlite' }])), []);
});
