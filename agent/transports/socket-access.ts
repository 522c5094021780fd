// Mode and owner of an app socket right after a worker binds it (0660: the app's group gets in,
// nobody else). Numeric owner/group ids are applied here so the socket is usable at once; names
// (which need /etc/passwd or NSS) and ids this unprivileged process may not give away (chown(2):
// only root changes the owner; others only to a group they belong to) are left to the ops-agent,
// which applies what it may after the workers are up and warns about the rest.
import { chmod, chown } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/load-config.js';

export const SOCKET_MODE = 0o660;

/** Owner/group as a uid/gid: numbers, or numeric strings. Names are resolved by the ops-agent. */
function numericId(v: string | number | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return undefined;
}

export async function applySocketAccess(socketPath: string, app: AppConfig, logger: Logger): Promise<void> {
  await chmod(socketPath, SOCKET_MODE);
  const uid = numericId(app.socket.owner);
  const gid = numericId(app.socket.group);
  if (uid !== undefined || gid !== undefined) {
    try {
      await chown(socketPath, uid ?? -1, gid ?? -1);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
      logger.debug({ socket: socketPath, owner: uid, group: gid }, 'socket owner/group not permitted for this user: left to the ops-agent');
    }
  }
  const named = [app.socket.owner, app.socket.group].some((v) => v !== undefined && numericId(v) === undefined);
  if (named) logger.debug({ socket: socketPath }, 'socket owner/group given by name: left to the ops-agent');
}
