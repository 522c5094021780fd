// `hearth start`: load and validate the configuration (nothing starts when it is wrong), build
// the ops-agent, and run it until main.ts's signal handlers close it.
import type { Logger } from 'pino';
import { loadConfig, type HearthConfig } from '../../agent/config/load-config.js';
import { readBuildInfo } from '../build-info.js';
import { OpsAgent } from '../ops-agent.js';
import { createOpsLogger } from '../ops-logger.js';
import { formatBanner, invokingApp, readClearToken } from './banner.js';
import { printConfigError } from './config-errors.js';

export interface StartContext {
  readonly configFile: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly pid: number;
  readonly cwd: string;
  /** The ops-agent's own Node options, which its workers inherit (a profiler, a debugger). */
  readonly execArgv?: readonly string[];
}

export type PreparedStart =
  | { readonly ok: false; readonly code: number }
  | { readonly ok: true; readonly agent: OpsAgent; readonly config: HearthConfig; readonly logger: Logger; readonly version: string };

/** Everything that can fail before a single directory is touched. */
export async function prepareStart(ctx: StartContext): Promise<PreparedStart> {
  let config: HearthConfig;
  try {
    config = await loadConfig(ctx.configFile, { env: ctx.env });
  } catch (err) {
    return { ok: false, code: printConfigError(err) };
  }
  const build = readBuildInfo();
  const logger = createOpsLogger(config.logLevel, ctx.pid, build.version);
  for (const w of config.warnings) logger.warn({ source: config.source }, `configuration: ${w}`);
  const workerEnv: Record<string, string> = {};
  for (const k of ['HEARTH_RUN_DIR', 'HEARTH_STATE_DIR'] as const) {
    const v = ctx.env[k];
    if (v !== undefined) workerEnv[k] = v;
  }
  const readyTimeoutMs = positiveInt(ctx.env.HEARTH_READY_TIMEOUT_MS);
  const agent = new OpsAgent({
    config,
    logger,
    build,
    pid: ctx.pid,
    workerEnv,
    workerExecArgv: ctx.execArgv ?? [],
    configEnv: ctx.env,
    ...(readyTimeoutMs !== undefined ? { readyTimeoutMs } : {}),
  });
  return { ok: true, agent, config, logger, version: build.version };
}

/** 0 once the agent serves (it keeps running); 1 when it could not start (the reason is printed). */
export async function runStart(p: PreparedStart & { ok: true }, ctx: StartContext): Promise<number> {
  try {
    await p.agent.start();
  } catch (err) {
    if (p.agent.closing) return 0; // a signal arrived while starting; the shutdown path exits
    const e = err as { code?: unknown; message?: unknown };
    p.logger.error({ err }, 'start failed');
    console.error(`hearth: cannot start: ${String(e.message)}`);
    return 1;
  }
  const status = await p.agent.admin.report();
  const token = p.config.apps.some((a) => a.id === 'demo')
    ? await readClearToken(p.config.source, 'demo')
    : p.config.apps[0] && (await readClearToken(p.config.source, p.config.apps[0].id));
  const shown = p.config.apps.find((a) => a.id === 'demo') ?? p.config.apps[0];
  const caller = shown && invokingApp(p.config, shown.id);
  const callerToken = caller && (await readClearToken(p.config.source, caller.id));
  console.error(
    formatBanner({
      config: p.config,
      version: p.version,
      pid: ctx.pid,
      workerPids: status.workers.map((w) => w.pid),
      token,
      callerToken,
      cwd: ctx.cwd,
    }),
  );
  return 0;
}

function positiveInt(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number.parseInt(v, 10);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
