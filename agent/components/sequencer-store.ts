import type { Component } from './component.js';

/** Keys arrive already namespaced by the API layer. */
export interface SequencerStore extends Component {
  /** Strictly increasing per key, starting at 1, across processes and restarts. */
  next(key: string): Promise<bigint>;
}
