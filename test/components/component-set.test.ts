// ComponentRegistry and ComponentSet: explicit registration, ordered start, reverse and bounded
// close, typed lookup by building block.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import type { Component, ComponentHealth } from '../../agent/components/component.js';
import { ComponentRegistry } from '../../agent/components/component-registry.js';
import { ComponentSet } from '../../agent/components/component-set.js';
import { LIMITS, TempDirs, componentConfig, context, embeddedRegistry, silentLogger } from './component-helpers.js';

const temp = new TempDirs();
test.after.always(() => temp.removeAll());

/** A component that records its lifecycle; `failStart`/`hangClose` simulate broken backends. */
class Probe implements Component {
  constructor(
    private readonly name: string,
    private readonly log: string[],
    private readonly behaviour: { failStart?: boolean; hangClose?: boolean } = {},
  ) {}
  async start(): Promise<void> {
    this.log.push(`start ${this.name}`);
    if (this.behaviour.failStart) throw Object.assign(new Error('cannot connect'), { code: 'HEARTH_ERR_BACKEND_UNAVAILABLE' });
  }
  close(): Promise<void> {
    this.log.push(`close ${this.name}`);
    return this.behaviour.hangClose ? new Promise(() => undefined) : Promise.resolve();
  }
  destroy(): void {
    this.log.push(`destroy ${this.name}`);
  }
  health(): ComponentHealth {
    return { healthy: true };
  }
  // The sequencer block's method, so the set accepts it as a sequencer.
  async next(): Promise<bigint> {
    return 1n;
  }
}

function probeRegistry(log: string[], behaviour: Record<string, { failStart?: boolean; hangClose?: boolean }> = {}): ComponentRegistry {
  const registry = new ComponentRegistry();
  registry.register('sequencer.probe', (ctx) => new Probe(ctx.config.name, log, behaviour[ctx.config.name]));
  return registry;
}

const base = (dir: string) => ({ stateDir: dir, configDir: dir, limits: LIMITS, logger: silentLogger });

test('the registry refuses duplicates and names unknown types with the known ones', async (t) => {
  const registry = embeddedRegistry();
  t.deepEqual(registry.types(), ['configuration.file', 'lock.sqlite', 'pubsub.sqlite', 'sequencer.sqlite', 'state.sqlite']);
  t.throws(() => registry.register('state.sqlite', () => new Probe('x', [])));
  const err = await t.throwsAsync(registry.create(context(componentConfig('store', 'state.nope'), '/tmp')), {
    code: 'HEARTH_ERR_CONFIG_INVALID',
  });
  t.like((err as { details?: Record<string, unknown> }).details, { type: 'state.nope' });
  t.true(((err as { details?: { known?: string[] } }).details?.known ?? []).includes('state.sqlite'));
});

test('a set of every embedded component starts, is looked up by block and name, and closes', async (t) => {
  const dir = await temp.make();
  await writeFile(path.join(dir, 'app.yaml'), 'a: one\n');
  const configs = [
    componentConfig('default', 'state.sqlite'),
    componentConfig('default', 'lock.sqlite'),
    componentConfig('default', 'sequencer.sqlite'),
    componentConfig('bus', 'pubsub.sqlite'),
    componentConfig('appcfg', 'configuration.file', { path: 'app.yaml' }),
  ];
  const set = await ComponentSet.start(configs, embeddedRegistry(), base(dir));
  try {
    t.truthy(set.state('default'));
    t.truthy(set.lock('default'));
    t.truthy(set.sequencer('default'));
    t.truthy(set.pubsub('bus'));
    t.truthy(set.configuration('appcfg'));
    t.is(set.state('bus'), undefined);
    t.is(set.pubsub('default'), undefined);
    t.is(set.configuration('missing'), undefined);
    t.deepEqual(
      set.list().map((e) => [e.block, e.name, e.type, e.shared]),
      configs.map((c) => [c.block, c.name, c.type, false]),
    );
    t.true(set.health().every((h) => h.healthy));
    t.is((await set.sequencer('default')?.next('k')), 1n);
    t.is((await set.configuration('appcfg')?.get(['a']))?.a?.value, 'one');
  } finally {
    await set.close();
  }
  await set.close();
  t.true(set.health().every((h) => !h.healthy));
  set.destroy();
});

test('when one component fails to start, the started ones close in reverse and the error names it', async (t) => {
  const log: string[] = [];
  const registry = probeRegistry(log, { c: { failStart: true } });
  const configs = ['a', 'b', 'c', 'd'].map((n) => componentConfig(n, 'sequencer.probe'));
  const err = await t.throwsAsync(ComponentSet.start(configs, registry, base(await temp.make())), {
    code: 'HEARTH_ERR_BACKEND_UNAVAILABLE',
  });
  t.like((err as { details?: Record<string, unknown> }).details, { component: 'c', type: 'sequencer.probe' });
  t.deepEqual(log, ['start a', 'start b', 'start c', 'destroy c', 'close b', 'close a']);
});

test('an unknown type or a type that does not implement its block fails the start', async (t) => {
  const log: string[] = [];
  const registry = probeRegistry(log);
  registry.register('lock.probe', (ctx) => new Probe(ctx.config.name, log));
  const dir = await temp.make();
  await t.throwsAsync(ComponentSet.start([componentConfig('a', 'state.nope')], registry, base(dir)), {
    code: 'HEARTH_ERR_CONFIG_INVALID',
  });
  await t.throwsAsync(
    ComponentSet.start([componentConfig('a', 'sequencer.probe'), componentConfig('b', 'lock.probe')], registry, base(dir)),
    { code: 'HEARTH_ERR_CONFIG_INVALID' },
  );
  t.deepEqual(log, ['start a', 'destroy b', 'close a']);
});

test('close runs in reverse order and destroys a component that does not close in time', async (t) => {
  const log: string[] = [];
  const registry = probeRegistry(log, { b: { hangClose: true } });
  const configs = ['a', 'b', 'c'].map((n) => componentConfig(n, 'sequencer.probe'));
  const set = await ComponentSet.start(configs, registry, { ...base(await temp.make()), closeTimeoutMs: 200 });
  await set.close();
  t.deepEqual(log, ['start a', 'start b', 'start c', 'close c', 'close b', 'destroy b', 'close a']);
  set.destroy();
  t.deepEqual(log.slice(7), ['destroy c', 'destroy b', 'destroy a']);
});
