// sequencer.redis: one INCR counter per key at `<keys.prefix><key>` (keys arrive as
// `<appId>||<key>`; the prefix is `<keyPrefix>hearth:seq:<name>:app:` or `…:shared:`). INCR is
// atomic on the server, so ids are strictly increasing across every process and restart of Hearth;
// the script returns the value as a string so it stays exact as a bigint beyond 2^53.
import { HearthError } from '../../errors/hearth-error.js';
import type { ComponentContext } from '../component.js';
import type { SequencerStore } from '../sequencer-store.js';
import { RedisComponent } from './redis-component.js';
import { toRedisError } from './redis-connection.js';
import { SEQUENCER_SCRIPTS, ScriptBinding, type SequencerScriptClient } from './redis-scripts.js';

export class RedisSequencerStore extends RedisComponent implements SequencerStore {
  private readonly scripts = new ScriptBinding<SequencerScriptClient>(SEQUENCER_SCRIPTS);

  constructor(ctx: ComponentContext) {
    super(ctx);
  }

  async next(key: string): Promise<bigint> {
    const client = this.scripts.on(this.client);
    let value: string;
    try {
      value = await client.hearthSequenceNext(this.keys.prefix + key);
    } catch (err) {
      const message = (err as Error | null)?.message ?? '';
      // INCR refuses to pass the int64 maximum (the SQLite store's limit too).
      if (message.includes('would overflow')) {
        throw new HearthError('HEARTH_ERR_RESOURCE_EXHAUSTED', `sequence "${key}" reached the 64-bit maximum`, undefined, { cause: err });
      }
      if (message.includes('not an integer')) {
        throw new HearthError('HEARTH_ERR_INTERNAL', `sequence "${key}" holds a value that is not an integer`, undefined, { cause: err });
      }
      throw toRedisError(err, this.name);
    }
    return BigInt(value);
  }
}
