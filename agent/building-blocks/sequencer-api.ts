// Sequencer: strictly increasing ids per key; keys are namespaced per app unless shared.
import { guard, resolveComponent, scopeKey, validateKey, type ApiDeps } from './app-scope.js';
import type { SequencerApi } from './runtime-api.js';

export function createSequencerApi(deps: ApiDeps): SequencerApi {
  return {
    next: guard(async (ctx, store, key) => {
      const s = resolveComponent(deps, ctx, 'sequencer', store);
      validateKey(deps, key);
      return s.component.next(scopeKey(ctx, s.shared, key));
    }),
  };
}
