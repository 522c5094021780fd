#!/usr/bin/env node
// The `hearth` CLI and ops-agent entry. The only ops-agent file that touches the process: argv,
// environment, signals, exit. Exit codes: 0 ok, 1 failure (bad config, cannot start, not
// running), 2 usage error.
import { parseArgs } from 'node:util';
import { readBuildInfo } from './build-info.js';
import type { OpsAgent } from './ops-agent.js';
import { handoffCommand } from './cli/handoff-commands.js';
import { prepareStart, runStart } from './cli/start-command.js';
import { statusCommand } from './cli/status-command.js';
import { DEFAULT_CONFIG_FILE, USAGE, UsageError } from './cli/usage.js';
import { validateCommand } from './cli/validate-command.js';
import { versionsCommand } from './cli/versions-command.js';

const env = process.env;

async function main(argv: string[]): Promise<number | 'running'> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
      throw new UsageError('missing command');
    case '-h':
    case '--help':
    case 'help':
      console.log(USAGE);
      return 0;
    case '-v':
    case '--version':
      console.log(readBuildInfo().version);
      return 0;
    case 'start': {
      const { values } = parse(rest, { config: { type: 'string', short: 'c' } });
      if (values.help) return help();
      return start(typeof values.config === 'string' ? values.config : DEFAULT_CONFIG_FILE);
    }
    case 'status':
    case 'versions': {
      const { values } = parse(rest, { ...TARGET, json: { type: 'boolean' } });
      if (values.help) return help();
      const o = { ...target(values), json: values.json === true, env };
      return command === 'status' ? statusCommand(o) : versionsCommand(o);
    }
    case 'upgrade': {
      const { values } = parse(rest, {
        ...TARGET,
        artifact: { type: 'string', short: 'a' },
        sha256: { type: 'string' },
        signature: { type: 'string' },
      });
      if (values.help) return help();
      const artifact = str(values.artifact);
      const sha256 = str(values.sha256);
      if (artifact === undefined || sha256 === undefined) throw new UsageError('upgrade needs --artifact and --sha256');
      if (!/^[0-9a-fA-F]{64}$/.test(sha256)) throw new UsageError('--sha256 must be 64 hex digits');
      return handoffCommand({ kind: 'upgrade', ...target(values), artifact, sha256, signatureFile: str(values.signature), env, cwd: process.cwd() });
    }
    case 'rollback':
    case 'reload': {
      const { values } = parse(rest, TARGET);
      if (values.help) return help();
      return handoffCommand({ kind: command, ...target(values), env, cwd: process.cwd() });
    }
    case 'validate': {
      const { values } = parse(rest, { config: { type: 'string', short: 'c' } });
      if (values.help) return help();
      const config = str(values.config);
      if (config === undefined) throw new UsageError('validate needs --config FILE');
      return validateCommand(config, env);
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** How a CLI command finds the running agent. */
const TARGET: Options = { config: { type: 'string', short: 'c' }, 'run-dir': { type: 'string' } };

function target(values: Record<string, string | boolean | undefined>): { configFile: string | undefined; runDir: string | undefined } {
  if (values.config !== undefined && values['run-dir'] !== undefined) throw new UsageError('give --config or --run-dir, not both');
  return { configFile: str(values.config), runDir: str(values['run-dir']) };
}

function parse(args: string[], options: Options): { values: Record<string, string | boolean | undefined> } {
  try {
    const { values } = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
    return { values };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function str(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function help(): number {
  console.log(USAGE);
  return 0;
}

async function start(configFile: string): Promise<number | 'running'> {
  const ctx = { configFile, env, pid: process.pid, cwd: process.cwd(), execArgv: process.execArgv };
  const prepared = await prepareStart(ctx);
  if (!prepared.ok) return prepared.code;
  const { agent, logger } = prepared;
  installSignals(agent);
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception in the ops-agent');
    agent.destroy();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled promise rejection in the ops-agent');
    agent.destroy();
    process.exit(1);
  });
  // 0: serving, or a signal arrived during start and the shutdown path owns the exit.
  const code = await runStart(prepared, ctx);
  return code === 0 ? 'running' : code;
}

/** First SIGTERM/SIGINT drains and exits 0; a second one forces (exit 1). */
function installSignals(agent: OpsAgent): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      console.error(`hearth: ${signal} again: forcing shutdown`);
      agent.destroy();
      process.exit(1);
    }
    signalled = true;
    agent.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`hearth: shutdown failed: ${(err as Error).message}`);
        agent.destroy();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // `systemctl reload` convention: re-read the configuration through a hand-off (as `hearth reload`).
  process.on('SIGHUP', () => {
    if (!signalled) agent.reload();
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 'running') process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`hearth: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    console.error(`hearth: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
