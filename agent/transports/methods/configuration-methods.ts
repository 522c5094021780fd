// hearth.runtime.v1.Configuration/GetConfiguration, and the item mapping the subscription
// streams of both transports send.
import type { ConfigurationItems } from '../../components/configuration-store.js';
import type { RuntimeApi } from '../../building-blocks/runtime-api.js';
import { type ConfigurationItem__Output as ConfigurationItemMsg, type GetConfigurationRequest__Output as ConfigurationRequestMsg } from '@hearth/protocol';
import { method, type MethodTable } from './unary-method.js';

export function configurationMethods(api: RuntimeApi): MethodTable {
  return {
    'hearth.runtime.v1.Configuration/GetConfiguration': method('configuration.get', async (ctx, req: ConfigurationRequestMsg) => ({
      items: toConfigurationItems(await api.configuration.get(ctx, req.storeName, req.keys)),
    })),
  };
}

/** Store items as the proto map<string, ConfigurationItem>; also what subscription streams send. */
export function toConfigurationItems(items: ConfigurationItems): Record<string, ConfigurationItemMsg> {
  const out: Record<string, ConfigurationItemMsg> = {};
  for (const [key, item] of Object.entries(items)) {
    out[key] = { value: item.value, version: item.version, metadata: { ...item.metadata }, deleted: item.deleted ?? false };
  }
  return out;
}
