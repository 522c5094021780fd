// The upgrade preflight's view of a cgroup memory limit (systemd MemoryMax, Kubernetes limits),
// on fake cgroupfs trees for v2 and v1, and against this machine's real one.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { cgroupMemory } from '../../ops-agent/upgrade/cgroup-memory.js';
import { preflight } from '../../ops-agent/upgrade/preflight.js';

const MiB = 1024 * 1024;
let dir: string;

test.before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hcg-'));
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tree(name: string, self: string, files: Record<string, string>): Promise<{ procSelfCgroup: string; cgroupRoot: string }> {
  const root = path.join(dir, name);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
  const procSelfCgroup = path.join(dir, `${name}.cgroup`);
  await writeFile(procSelfCgroup, self);
  return { procSelfCgroup, cgroupRoot: root };
}

test('v2: the tightest ancestor wins (a slice limit below the service\'s)', async (t) => {
  const paths = await tree('v2', '0::/system.slice/hearth.service\n', {
    'system.slice/hearth.service/memory.max': `${1024 * MiB}\n`,
    'system.slice/hearth.service/memory.current': `${600 * MiB}\n`,
    'system.slice/memory.max': `${800 * MiB}\n`,
    'system.slice/memory.current': `${700 * MiB}\n`,
    'memory.max': 'max\n',
  });
  t.deepEqual(await cgroupMemory(paths), { availableBytes: 100 * MiB, limitBytes: 800 * MiB, cgroup: '/system.slice' });
});

test('v1: the memory controller\'s limit; the v1 "unlimited" value is no limit', async (t) => {
  const limited = await tree('v1', '5:cpu,cpuacct:/x\n4:memory:/kubepods/pod1\n0::/\n', {
    'memory/kubepods/pod1/memory.limit_in_bytes': `${768 * MiB}\n`,
    'memory/kubepods/pod1/memory.usage_in_bytes': `${500 * MiB}\n`,
    'memory/kubepods/memory.limit_in_bytes': '9223372036854771712\n',
    'memory/kubepods/memory.usage_in_bytes': `${900 * MiB}\n`,
  });
  t.deepEqual(await cgroupMemory(limited), { availableBytes: 268 * MiB, limitBytes: 768 * MiB, cgroup: '/kubepods/pod1' });
  const unlimited = await tree('v1u', '4:memory:/\n', {
    'memory/memory.limit_in_bytes': '9223372036854771712\n',
    'memory/memory.usage_in_bytes': `${100 * MiB}\n`,
  });
  t.is(await cgroupMemory(unlimited), undefined);
});

test('reclaimable file cache (memory.stat inactive_file) does not count as used', async (t) => {
  const paths = await tree('v2cache', '0::/hearth\n', {
    'hearth/memory.max': `${1024 * MiB}\n`,
    'hearth/memory.current': `${900 * MiB}\n`,
    'hearth/memory.stat': `anon ${300 * MiB}\nfile ${600 * MiB}\ninactive_file ${500 * MiB}\nactive_file ${100 * MiB}\n`,
  });
  t.deepEqual(await cgroupMemory(paths), { availableBytes: 624 * MiB, limitBytes: 1024 * MiB, cgroup: '/hearth' });
});

test('no cgroupfs: no limit', async (t) => {
  t.is(await cgroupMemory({ procSelfCgroup: path.join(dir, 'absent'), cgroupRoot: path.join(dir, 'absent-root') }), undefined);
});

test('preflight refuses a second generation that fits the host but not the cgroup, and says which limit', async (t) => {
  const paths = await tree('tight', '0::/hearth\n', { 'hearth/memory.max': `${300 * MiB}\n`, 'hearth/memory.current': `${250 * MiB}\n` });
  const err = await t.throwsAsync(
    preflight({ workerRss: [95 * MiB, 95 * MiB], workers: 2, memoryHeadroom: 1.5, stateDir: dir, diskHeadroom: 2, cgroupPaths: paths }),
  );
  t.is((err as { code?: string } | undefined)?.code, 'HEARTH_ERR_PREFLIGHT_MEMORY');
  t.regex(err?.message ?? '', /under the memory limit of cgroup \/hearth \(300\.0 MiB\)/);
  t.regex(err?.message ?? '', /50\.0 MiB available/);
});

test('this machine\'s own cgroup reads without error', async (t) => {
  const got = await cgroupMemory();
  if (got !== undefined) t.true(got.availableBytes >= 0 && got.limitBytes > 0);
  else t.pass('no memory limit applies to this process');
});
