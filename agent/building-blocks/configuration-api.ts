// Configuration: read-only items the operator provides; keys are not namespaced (the store is
// operator-owned), access is by component ACL.
import type { ConfigurationItems, ConfigurationStore } from '../components/configuration-store.js';
import { checkCount, guard, resolveComponent, validateName, type ApiDeps } from './app-scope.js';
import type { CallContext, ConfigurationApi } from './runtime-api.js';

export function createConfigurationApi(deps: ApiDeps): ConfigurationApi {
  const prepare = (ctx: CallContext, store: string, keys: readonly string[]): ConfigurationStore => {
    const c = resolveComponent(deps, ctx, 'configuration', store).component;
    checkCount(keys.length, deps.config.limits.maxBulkKeys, 'configuration keys');
    for (const key of keys) validateName(deps, key, 'key');
    return c;
  };

  return {
    get: guard(async (ctx, store, keys) => prepare(ctx, store, keys).get(keys)),

    subscribe: guard(async (ctx, store, keys, onChange) => {
      const c = prepare(ctx, store, keys);
      // Subscribe before reading so no change between the read and the subscription is lost;
      // changes seen before the initial items went out are replayed after them, in order.
      let pending: ConfigurationItems[] | undefined = [];
      let active = true;
      const unsubscribe = c.subscribe(keys, (items) => {
        if (!active) return;
        if (pending) pending.push(items);
        else onChange(items);
      });
      try {
        const initial = await c.get(keys);
        onChange(initial);
        for (const items of pending) if (active) onChange(items);
        pending = undefined;
      } catch (err) {
        unsubscribe();
        throw err;
      }
      return () => {
        if (!active) return;
        active = false;
        unsubscribe();
      };
    }),
  };
}
