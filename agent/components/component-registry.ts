// Component types register here explicitly from setup(): no filesystem scanning and no
// side-effect imports, so a build's types are exactly those setup() names; the configuration
// names a type, the registry builds it.
import { HearthError } from '../errors/hearth-error.js';
import type { Component, ComponentContext } from './component.js';

/** Builds a component; a factory may load its implementation first (a library only some configurations need). */
export type ComponentFactory = (ctx: ComponentContext) => Component | Promise<Component>;

export class ComponentRegistry {
  private readonly factories = new Map<string, ComponentFactory>();

  /** Throws on a duplicate type: two registrations would make the choice order-dependent. */
  register(type: string, factory: ComponentFactory): void {
    if (this.factories.has(type)) {
      throw new HearthError('HEARTH_ERR_INTERNAL', `component type "${type}" is already registered`);
    }
    this.factories.set(type, factory);
  }

  /** Builds (does not start) the component for ctx.config.type. */
  async create(ctx: ComponentContext): Promise<Component> {
    const factory = this.factories.get(ctx.config.type);
    if (!factory) {
      const known = this.types();
      throw new HearthError(
        'HEARTH_ERR_CONFIG_INVALID',
        `component "${ctx.config.name}": unknown type "${ctx.config.type}"; known types: ${known.length > 0 ? known.join(', ') : '(none)'}`,
        { type: ctx.config.type, known },
      );
    }
    return await factory(ctx);
  }

  types(): string[] {
    return [...this.factories.keys()].sort();
  }
}
