// Token files hold secrets an app (or an agent) signs in with: the loader refuses one that others
// could read or swap, for every token it reads from a file.
import { stat } from 'node:fs/promises';

/**
 * Why a token file is too open, or undefined: it must belong to the agent's user or root (its
 * owner can read and swap it whatever the mode), anyone but the agent's user and its own group may
 * not read it, nobody else may write it. A Kubernetes Secret mounted 0440 (owned by root) with the
 * pod's fsGroup as the agent's group passes.
 */
export async function tokenFileAccess(file: string): Promise<string | undefined> {
  const st = await stat(file);
  const mode = st.mode & 0o777;
  const ownUser = typeof process.getuid === 'function' ? process.getuid() : st.uid;
  if (st.uid !== ownUser && st.uid !== 0) return `belongs to user ${st.uid}, neither the agent's user (${ownUser}) nor root`;
  if ((mode & 0o007) !== 0) return `is accessible to other users (mode ${mode.toString(8).padStart(4, '0')})`;
  if ((mode & 0o020) !== 0) return `is writable by its group (mode ${mode.toString(8).padStart(4, '0')})`;
  const ownGroup = typeof process.getgid === 'function' ? process.getgid() : st.gid;
  if ((mode & 0o040) !== 0 && st.gid !== ownGroup) return `is readable by group ${st.gid}, which is not the agent's group (mode ${mode.toString(8).padStart(4, '0')})`;
  return undefined;
}

/** The message the loaders give a too-open token file (`access` from tokenFileAccess). */
export function tooOpen(at: string, file: string, access: string): string {
  return `${at}: ${file} ${access}; make it readable by the agent alone (chmod 0600, or 0640 with the agent's own group)`;
}
