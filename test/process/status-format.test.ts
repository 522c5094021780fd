// `hearth status` prints what the ops-agent reports, including a report from an ops-agent of an
// older build that has no per-app `held` (a CLI installed before the daemon restarted).
import test from 'ava';
import { formatStatus } from '../../ops-agent/cli/status-command.js';
import type { StatusApp, StatusReport } from '../../ops-agent/status-report.js';

function report(apps: StatusApp[]): StatusReport {
  return {
    pid: 1, version: '0.1.0', generation: 1, activeVersion: '0.1.0', uptimeMs: 1000, configFile: '/etc/hearth/hearth.yaml',
    runDir: '/run/hearth', stateDir: '/var/lib/hearth', adminSocket: '/run/hearth/admin.sock', ready: true, problems: [],
    workers: [], apps, components: [], upgrade: { active: null, previous: null, inProgress: null, lastResult: null },
  };
}

const app = (id: string, held?: StatusApp['held']): StatusApp => ({
  id, grpcSocket: `/run/hearth/apps/${id}/grpc.sock`, httpSocket: `/run/hearth/apps/${id}/http.sock`, wireSocket: `/run/hearth/apps/${id}/wire.sock`,
  connections: { grpc: 1, http: 2, wire: 3 }, ...(held === undefined ? {} : { held }),
});

test('the apps table shows what each app holds, and ? where an older ops-agent does not say', (t) => {
  const out = formatStatus(report([app('orders', { streams: 4, bufferedBytes: 3 * 1024 * 1024, pendingCallbacks: 7 }), app('legacy')]));
  const line = (id: string): string => out.split('\n').find((l) => l.trimStart().startsWith(`${id} `)) ?? '';
  t.regex(line('orders'), /^\s*orders\s+1\s+2\s+3\s+4\s+3(\.0)? MiB\s+7\s+\/run\/hearth\/apps\/orders\/http\.sock/);
  t.regex(line('legacy'), /^\s*legacy\s+1\s+2\s+3\s+\?\s+\?\s+\?\s+\/run\/hearth\/apps\/legacy\/http\.sock/);
});
