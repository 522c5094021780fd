// Before a second generation is forked: is there memory for it next to the first, and disk for
// the artifact in the state directory? Two generations overlap during every hand-off, so a host
// without room for both is refused with numbers, before anything starts.
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import si from 'systeminformation';
import { OpsError } from '../ops-errors.js';
import { cgroupMemory, type CgroupPaths } from './cgroup-memory.js';

export interface PreflightInput {
  /** RSS of each active worker that answered (bytes). */
  readonly workerRss: readonly number[];
  /** Workers the new generation will run. */
  readonly workers: number;
  readonly memoryHeadroom: number;
  readonly stateDir: string;
  /** The artifact's size; absent for a reload or rollback (nothing new lands on disk). */
  readonly artifactBytes?: number;
  readonly diskHeadroom: number;
  /** Where to read the cgroup's memory limit (tests point it at a fake tree). */
  readonly cgroupPaths?: CgroupPaths;
}

export interface PreflightReport {
  readonly memory: { readonly requiredBytes: number; readonly availableBytes: number };
  readonly disk?: { readonly requiredBytes: number; readonly availableBytes: number; readonly mount: string };
}

const MiB = 1024 * 1024;
const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;

/** Resolves with what was measured, or throws HEARTH_ERR_PREFLIGHT_MEMORY / _DISK saying how much is missing. */
export async function preflight(input: PreflightInput): Promise<PreflightReport> {
  // Per issue #3: measured worker RSS × workers × headroom (the mean stands for a worker).
  const known = input.workerRss.filter((n) => Number.isFinite(n) && n > 0);
  const perWorker = known.length === 0 ? 0 : known.reduce((a, b) => a + b, 0) / known.length;
  const requiredMemory = Math.ceil(perWorker * input.workers * input.memoryHeadroom);
  const hostAvailable = (await si.mem()).available;
  // Under a cgroup limit (systemd MemoryMax, a Kubernetes limit) the limit is what OOM-kills.
  const cgroup = await cgroupMemory(input.cgroupPaths);
  const limited = cgroup !== undefined && cgroup.availableBytes < hostAvailable;
  const availableMemory = limited ? cgroup.availableBytes : hostAvailable;
  if (requiredMemory > availableMemory) {
    const where = limited ? ` under the memory limit of cgroup ${cgroup.cgroup} (${mib(cgroup.limitBytes)})` : '';
    throw new OpsError(
      'HEARTH_ERR_PREFLIGHT_MEMORY',
      `not enough free memory for a second generation: needs ${mib(requiredMemory)} (${input.workers} worker(s) × ${mib(perWorker)} RSS × ${input.memoryHeadroom}), ` +
        `${mib(availableMemory)} available${where}, ${mib(requiredMemory - availableMemory)} missing`,
      { requiredBytes: requiredMemory, availableBytes: availableMemory },
    );
  }
  const report: PreflightReport = { memory: { requiredBytes: requiredMemory, availableBytes: availableMemory } };
  if (input.artifactBytes === undefined) return report;

  const requiredDisk = Math.ceil(input.artifactBytes * input.diskHeadroom);
  const { available, mount } = await freeDisk(input.stateDir);
  if (requiredDisk > available) {
    throw new OpsError(
      'HEARTH_ERR_PREFLIGHT_DISK',
      `not enough free disk in ${input.stateDir} (${mount}): needs ${mib(requiredDisk)} (artifact ${mib(input.artifactBytes)} × ${input.diskHeadroom}), ` +
        `${mib(available)} available, ${mib(requiredDisk - available)} missing`,
      { requiredBytes: requiredDisk, availableBytes: available },
    );
  }
  return { ...report, disk: { requiredBytes: requiredDisk, availableBytes: available, mount } };
}

/** The mount holding `dir` (longest matching mount point); statfs when systeminformation lists none. */
async function freeDisk(dir: string): Promise<{ available: number; mount: string }> {
  const abs = path.resolve(dir);
  const mounts = await si.fsSize().catch(() => []);
  const containing = mounts
    .filter((m) => m.mount !== '' && (abs === m.mount || abs.startsWith(m.mount.endsWith('/') ? m.mount : `${m.mount}/`)))
    .sort((a, b) => b.mount.length - a.mount.length)[0];
  if (containing) return { available: containing.available, mount: containing.mount };
  // tmpfs and friends are not always listed; the kernel answers for any path.
  const s = await statfs(abs);
  return { available: s.bavail * s.bsize, mount: abs };
}
