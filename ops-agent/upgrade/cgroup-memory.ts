// How much memory the ops-agent's cgroup (v2) still allows: under systemd's MemoryMax or a
// Kubernetes memory limit, the host's free memory says nothing about whether a second generation
// fits — the cgroup limit is what OOM-kills it. Every ancestor's memory.max counts; the tightest
// (limit − working set, i.e. usage less the reclaimable inactive file cache) wins. cgroup v2 (memory.max / memory.current) and v1 (the memory controller's
// memory.limit_in_bytes / memory.usage_in_bytes). Undefined when no limit applies.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface CgroupMemory {
  /** memory.max − memory.current of the tightest level. */
  readonly availableBytes: number;
  readonly limitBytes: number;
  /** The cgroup whose limit binds, e.g. /system.slice/hearth.service. */
  readonly cgroup: string;
}

export interface CgroupPaths {
  readonly procSelfCgroup: string;
  readonly cgroupRoot: string;
}

const DEFAULT_PATHS: CgroupPaths = { procSelfCgroup: '/proc/self/cgroup', cgroupRoot: '/sys/fs/cgroup' };

async function readNumber(file: string): Promise<number | undefined> {
  const text = (await readFile(file, 'utf8').catch(() => '')).trim();
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

/** v1 reports "no limit" as a page-rounded 2^63 − 1. */
const V1_UNLIMITED = 2 ** 62;

interface Layout {
  /** Where the hierarchy's root is mounted. */
  readonly base: string;
  readonly group: string;
  readonly limitFile: string;
  readonly usageFile: string;
  /** memory.stat key of the reclaimable file cache, subtracted from usage as kubelet and docker do. */
  readonly inactiveFileKey: string;
}

/** One `key value` line of memory.stat; 0 when absent. */
async function statValue(file: string, key: string): Promise<number> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

function layout(selfCgroup: string, root: string): Layout | undefined {
  const lines = selfCgroup.split('\n');
  // v1 memory controller: "4:memory:/path" (possibly co-mounted, "4:cpu,memory:/path").
  const v1 = lines.map((l) => /^\d+:([^:]*):(.*)$/.exec(l)).find((m) => m?.[1]?.split(',').includes('memory'));
  if (v1) return {
      base: path.join(root, 'memory'),
      group: v1[2] || '/',
      limitFile: 'memory.limit_in_bytes',
      usageFile: 'memory.usage_in_bytes',
      inactiveFileKey: 'total_inactive_file',
    };
  // v2 unified hierarchy: "0::/path".
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2 !== undefined) return { base: root, group: v2.slice(3).trim() || '/', limitFile: 'memory.max', usageFile: 'memory.current', inactiveFileKey: 'inactive_file' };
  return undefined;
}

export async function cgroupMemory(paths: CgroupPaths = DEFAULT_PATHS): Promise<CgroupMemory | undefined> {
  const l = layout(await readFile(paths.procSelfCgroup, 'utf8').catch(() => ''), paths.cgroupRoot);
  if (l === undefined) return undefined;
  let group = l.group;
  let best: CgroupMemory | undefined;
  for (;;) {
    const dir = path.join(l.base, group);
    const max = await readNumber(path.join(dir, l.limitFile));
    const current = await readNumber(path.join(dir, l.usageFile));
    if (max !== undefined && current !== undefined && max < V1_UNLIMITED) {
      // Usage counts page cache the kernel reclaims before it OOM-kills (SQLite files, artifacts).
      const working = Math.max(0, current - (await statValue(path.join(dir, 'memory.stat'), l.inactiveFileKey)));
      const available = Math.max(0, max - working);
      if (best === undefined || available < best.availableBytes) best = { availableBytes: available, limitBytes: max, cgroup: group };
    }
    if (group === '/') break;
    group = path.posix.dirname(group);
  }
  return best;
}
