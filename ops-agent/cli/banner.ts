// The human-readable "it is up, try this" text `hearth start` prints once every worker is ready.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { HearthConfig } from '../../agent/config/load-config.js';

/**
 * Tokens are kept only as hashes; the banner can show one only when the file gives it in clear
 * (`token: …` without `${…}`), so it re-reads the file for that alone.
 */
export async function readClearToken(configFile: string, appId: string): Promise<string | undefined> {
  try {
    const doc = parseYaml(await readFile(configFile, 'utf8')) as { apps?: Array<{ id?: unknown; token?: unknown }> } | null;
    const token = doc?.apps?.find((a) => a.id === appId)?.token;
    return typeof token === 'string' && !token.includes('${') ? token : undefined;
  } catch {
    return undefined;
  }
}

export interface BannerInput {
  readonly config: HearthConfig;
  readonly version: string;
  readonly pid: number;
  readonly workerPids: readonly number[];
  readonly token: string | undefined;
  /** The clear token of an app allowed to invoke the shown app, for the invoke example. */
  readonly callerToken?: string | undefined;
  readonly cwd: string;
}

/** An app allowed to invoke `target`, for the banner's invoke example. */
export function invokingApp(config: HearthConfig, target: string): HearthConfig['apps'][number] | undefined {
  return config.apps.find((a) => a.id !== target && (a.allow.apps.includes('*') || a.allow.apps.includes(target)));
}

export function formatBanner(b: BannerInput): string {
  const { config } = b;
  const show = (p: string): string => {
    const rel = path.relative(b.cwd, p);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
  };
  const app = config.apps.find((a) => a.id === 'demo') ?? config.apps[0];
  const invoke: string[] = [];
  const lines = [
    '',
    `  Hearth ${b.version} is ready: ops-agent pid ${b.pid}, ${b.workerPids.length} worker(s) (pids ${b.workerPids.join(', ')})`,
    `  config      ${config.source}`,
    `  admin API   ${show(config.adminSocket)}`,
    `  data        ${show(config.stateDir)}`,
  ];
  if (app) {
    const http = shellQuote(show(app.httpSocket));
    const auth = `-H 'authorization: Bearer ${b.token ?? '<your token>'}'`;
    const store = pick(config, 'state');
    const pubsub = pick(config, 'pubsub');
    const curl = `curl --unix-socket ${http} ${auth}`;
    lines.push(
      '',
      `  App "${app.id}":`,
      `    gRPC  ${show(app.grpcSocket)}   (services in proto/hearth/runtime/v1)`,
      `    HTTP  ${show(app.httpSocket)}`,
      `    wire  ${show(app.wireSocket)}   (the TypeScript SDK: import { createClient } from '@hearth/sdk')`,
      '',
      '  Try:',
    );
    if (store) {
      lines.push(
        `    ${curl} -X POST http://hearth/v1.0/state/${store} -H 'content-type: application/json' -d '[{"key":"greeting","value":"hello"}]'`,
        `    ${curl} http://hearth/v1.0/state/${store}/greeting`,
      );
    }
    if (pubsub) {
      lines.push(`    ${curl} -X POST http://hearth/v1.0/publish/${pubsub}/orders -H 'content-type: application/json' -d '{"orderId":1}'`);
    }
    lines.push(`    ${curl} http://hearth/v1.0/metadata`);
    const caller = invokingApp(config, app.id);
    if (caller) {
      const callerCurl = `curl --unix-socket ${shellQuote(show(caller.httpSocket))} -H 'authorization: Bearer ${b.callerToken ?? '<its token>'}'`;
      invoke.push(
        `  Invoke: serve "echo" as app "${app.id}" with the SDK (node examples/echo-app.mjs, in another terminal), then call it as "${caller.id}":`,
        `    ${callerCurl} -d hi http://hearth/v1.0/invoke/${app.id}/method/echo`,
      );
    }
  }
  lines.push(
    `    hearth status --config ${shellQuote(show(config.source))}      (from a checkout: npx hearth status …)`,
    ...(invoke.length > 0 ? ['', ...invoke] : []),
    '',
    '  Ctrl-C (SIGTERM) drains the workers and stops.',
    '',
  );
  return lines.join('\n');
}

/** The `default` component of a building block, else its first. */
function pick(config: HearthConfig, block: string): string | undefined {
  const of = config.components.filter((c) => c.block === block);
  return (of.find((c) => c.name === 'default') ?? of[0])?.name;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
