// A worker loads a backend's client library only when its configuration names a component of that
// backend: on the embedded default, ioredis and kafkajs (~10 MB of an idle worker's RSS) stay on disk.
// Checked in a fresh Node process: what importing the worker's runtime loads, then what building
// (not starting: no server is needed) one Redis and one Kafka component adds.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { distRoot } from '../support/repo-root.js';

const probe = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const loaded = (name) => Object.keys(require.cache).some((f) => f.includes(\`/node_modules/\${name}/\`));
const { ComponentRegistry } = await import(${JSON.stringify(path.join(distRoot, 'agent/components/component-registry.js'))});
const { registerAllComponents } = await import(${JSON.stringify(path.join(distRoot, 'agent/components/setup.js'))});
await import(${JSON.stringify(path.join(distRoot, 'agent/agent-runtime.js'))});
const before = { ioredis: loaded('ioredis'), kafkajs: loaded('kafkajs') };
const registry = new ComponentRegistry();
registerAllComponents(registry);
const { pino } = await import('pino');
const base = { stateDir: '/nonexistent', configDir: '/nonexistent', logger: pino({ level: 'silent' }),
  limits: { maxBodyBytes: 1024, maxKeyBytes: 1024, maxBulkKeys: 10, maxTransactionOps: 10, workerHeapMb: 0 } };
await registry.create({ ...base, config: { name: 'r', type: 'state.redis', block: 'state', impl: 'redis', shared: false, metadata: { url: 'redis://127.0.0.1:1' } } });
const afterRedis = { ioredis: loaded('ioredis'), kafkajs: loaded('kafkajs') };
await registry.create({ ...base, config: { name: 'k', type: 'pubsub.kafka', block: 'pubsub', impl: 'kafka', shared: false, metadata: { brokers: '127.0.0.1:1' } } });
const afterKafka = { ioredis: loaded('ioredis'), kafkajs: loaded('kafkajs') };
console.log(JSON.stringify({ before, afterRedis, afterKafka }));
`;

test('the worker loads ioredis and kafkajs only when a component of theirs is built', async (t) => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', probe], { timeout: 60_000 });
  const r = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, { ioredis: boolean; kafkajs: boolean }>;
  t.deepEqual(r.before, { ioredis: false, kafkajs: false }, 'importing the worker loads neither');
  t.deepEqual(r.afterRedis, { ioredis: true, kafkajs: false });
  t.deepEqual(r.afterKafka, { ioredis: true, kafkajs: true });
});
