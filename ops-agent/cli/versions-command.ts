// `hearth versions`: the installed builds, which one is active and which one a rollback returns to.
import { adminGet } from '../admin-client.js';
import type { BuildRef } from '../upgrade/upgrade-state.js';
import type { InstalledVersion } from '../upgrade/version-store.js';
import { notRunning, resolveAdminSocket, type AdminTarget } from './admin-target.js';

interface VersionsAnswer {
  readonly active: (BuildRef & { generation?: number }) | null;
  readonly previous: BuildRef | null;
  readonly installed: readonly InstalledVersion[];
}

export async function versionsCommand(o: AdminTarget & { json: boolean }): Promise<number> {
  const target = await resolveAdminSocket(o);
  if (!target.ok) return target.code;
  let res;
  try {
    res = await adminGet(target.socket, '/v1/versions');
  } catch (err) {
    return notRunning(target.socket, err);
  }
  if (res.status !== 200) {
    console.error(`hearth: ${target.socket} answered ${res.status}: ${res.body}`);
    return 1;
  }
  if (o.json) {
    console.log(res.body);
    return 0;
  }
  const v = JSON.parse(res.body) as VersionsAnswer;
  const rows = v.installed.map((i) => [mark(i.version, v), i.version, `${i.manifest.platform}-${i.manifest.arch}`, `node ${i.manifest.nodeAbi}`, `protocol ${i.manifest.protocol}`, String(i.installedAt), i.dir]);
  if (v.active && v.active.dir === undefined) rows.unshift([mark(v.active.version, v), v.active.version, '(the ops-agent\'s own build)', '', '', '', v.active.exec]);
  if (v.previous && v.previous.dir === undefined && v.previous.version !== v.active?.version) {
    rows.push(['previous', v.previous.version, '(the ops-agent\'s own build)', '', '', '', v.previous.exec]);
  }
  console.log(`active ${v.active?.version ?? 'none'} (generation ${v.active?.generation ?? '?'}), previous ${v.previous?.version ?? 'none'}`);
  if (rows.length === 0) console.log('  (no installed versions)');
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const r of rows) console.log(`  ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd());
  return 0;
}

function mark(version: string, v: VersionsAnswer): string {
  if (v.active?.version === version) return 'active';
  if (v.previous?.version === version) return 'previous';
  return '';
}
