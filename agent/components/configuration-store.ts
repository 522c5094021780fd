import type { Component } from './component.js';

export interface ConfigurationItem {
  readonly value: string;
  readonly version: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Set on change notifications when a key was removed. */
  readonly deleted?: boolean;
}

export type ConfigurationItems = Record<string, ConfigurationItem>;

export interface ConfigurationStore extends Component {
  /** Empty keys = every key. Missing keys are absent from the result. */
  get(keys: readonly string[]): Promise<ConfigurationItems>;
  /**
   * Calls onChange with the changed (or deleted) items among `keys` (empty = all) whenever the
   * source changes. Returns the function that unsubscribes.
   */
  subscribe(keys: readonly string[], onChange: (items: ConfigurationItems) => void): () => void;
}
