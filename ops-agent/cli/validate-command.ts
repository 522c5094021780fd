// `hearth validate --config FILE`: OK and a summary (warnings on stderr), or every problem with its
// path (exit 1).
import { loadConfig } from '../../agent/config/load-config.js';
import { printConfigError } from './config-errors.js';

export async function validateCommand(configFile: string, env: Readonly<Record<string, string | undefined>>): Promise<number> {
  try {
    const config = await loadConfig(configFile, { env });
    for (const w of config.warnings) console.error(`hearth: warning: ${w}`);
    console.log(
      `OK ${config.source}: ${config.apps.length} app(s), ${config.components.length} component(s), ${config.workers} worker(s), run dir ${config.runDir}, state dir ${config.stateDir}`,
    );
    return 0;
  } catch (err) {
    return printConfigError(err);
  }
}
