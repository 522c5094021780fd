// The agent worker entry, forked by the ops-agent (cluster primary). The only agent file that
// touches the process: environment, IPC channel, signals, exit. Any uncaught error is fatal:
// log it and exit non-zero so the ops-agent restarts the worker.
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { WorkerMessage } from '../upgrade/handoff-protocol.js';
import { AgentRuntime } from './agent-runtime.js';
import { createLogger } from './observability/logger.js';

const env = process.env;
const generation = Number.parseInt(env.HEARTH_GENERATION ?? '1', 10);
const version = env.HEARTH_VERSION ?? packageVersion();
// The level is raised or lowered to the configuration's once it is loaded.
const logger = createLogger({ level: 'info', base: { role: 'worker', generation, version } });

let exiting = false;
function exit(code: number): void {
  if (exiting) return;
  exiting = true;
  process.exit(code);
}

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send || !process.connected) {
      resolve();
      return;
    }
    process.send(message, undefined, {}, (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

const configFile = env.HEARTH_CONFIG;
if (configFile === undefined || configFile === '' || !Number.isSafeInteger(generation) || generation < 0) {
  logger.fatal({ HEARTH_CONFIG: configFile, HEARTH_GENERATION: env.HEARTH_GENERATION }, 'HEARTH_CONFIG must name the configuration file and HEARTH_GENERATION be an integer');
  exit(2);
} else {
  const runtime = new AgentRuntime({ configFile, env, generation, version, logger, send, exit });

  process.on('message', (message: unknown) => runtime.handleMessage(message));

  const fatal = (what: string) => (err: unknown) => {
    logger.fatal({ err }, what);
    runtime.destroy();
    exit(1);
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled promise rejection'));

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: forcing exit');
      runtime.destroy();
      exit(1);
      return;
    }
    signalled = true;
    logger.info({ signal }, 'signal received: draining');
    runtime.drain().catch(fatal('drain failed'));
  };
  process.on('SIGTERM', onSignal);
  // Ctrl-C reaches the whole process group; under the ops-agent it is the primary that decides
  // when workers drain, so a worker ignores SIGINT there.
  process.on('SIGINT', (signal) => {
    if (cluster.isWorker) logger.debug({ signal }, 'SIGINT ignored: the ops-agent coordinates shutdown');
    else onSignal(signal);
  });

  runtime.start().catch((err: unknown) => {
    logger.fatal({ err }, 'worker failed to start');
    exit(1);
  });
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}
