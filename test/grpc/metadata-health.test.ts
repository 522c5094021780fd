import test from 'ava';
import { startInProcess, type InProcess } from '../helpers/in-process.js';

let rt: InProcess<'grpc'>;
test.before(async () => {
  rt = await startInProcess({ transports: ['grpc'] });
});
test.after.always(async () => {
  await rt?.close();
});

test('metadata: app id, version, generation and the components the app may use', async (t) => {
  const demo = await rt.demo.grpc.clients.metadata.GetMetadata({});
  t.is(demo.appId, 'demo');
  t.is(demo.runtimeVersion, '0.0.0-test');
  t.is(demo.generation, 3);
  t.deepEqual(demo.allowedTopics, ['*']);
  t.deepEqual(demo.allowedApps, ['*']);
  t.true(demo.components.some((c) => c.name === 'private' && c.type === 'state.sqlite'));
  t.true(demo.components.find((c) => c.name === 'shared')?.capabilities.includes('SHARED'));

  const other = await rt.other.grpc.clients.metadata.GetMetadata({});
  t.is(other.appId, 'other');
  t.deepEqual(
    other.components.map((c) => c.name).sort(),
    ['appconfig', 'lockstore', 'pubsub', 'sequencer', 'shared', 'statestore'],
  );
  t.deepEqual(other.allowedTopics, ['orders', 'other.*']);
});

test('health: SERVING overall and per service, without a token', async (t) => {
  const anonymous = rt.grpcClients(rt.demo.grpc.socket);
  t.is((await anonymous.health.Check({ service: '' })).status, 'SERVING');
  for (const s of ['State', 'PubSub', 'Configuration', 'Lock', 'Sequencer', 'Metadata']) {
    t.is((await anonymous.health.Check({ service: `hearth.runtime.v1.${s}` })).status, 'SERVING', s);
  }
});

test('reflection lists the services', async (t) => {
  const res = await rt.demo.grpc.clients.reflect({ listServices: '*' });
  const services = ((res.listServicesResponse as { service: { name: string }[] }).service ?? []).map((s) => s.name);
  for (const s of ['State', 'PubSub', 'Configuration', 'Lock', 'Sequencer', 'Metadata']) t.true(services.includes(`hearth.runtime.v1.${s}`), s);
  t.true(services.includes('grpc.health.v1.Health'));

  const file = await rt.demo.grpc.clients.reflect({ fileContainingSymbol: 'hearth.runtime.v1.State' });
  t.is(file.messageResponse, 'fileDescriptorResponse');
});
