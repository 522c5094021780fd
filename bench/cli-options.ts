// `npm run bench -- [flags]`: parsed from an argv array handed in by run.ts.
import type { RunSettings } from './report/report-types.js';

export const USAGE = `usage: npm run bench -- [--quick] [--only a,b] [--rate N] [--duration S] [--rounds N] [--warmup S]
                          [--connections N] [--concurrency N] [--idle-connections N] [--list] [--profile]
  --quick              short rows (4 s at the target rate, 3 s closed loop) instead of 60 s
  --only a,b           run these scenarios (and the baselines they need); --list shows them
  --rate N             open-loop requests per second (default 1000)
  --duration S         measured seconds per open-loop row (default 60, quick 4)
  --rounds N           split each open-loop row into N rounds, interleaved with the other rows
                       (default 6, quick 1): noise from other work lands on every row alike
  --warmup S           warm-up seconds excluded from the histogram (default 5, quick 1)
  --connections N      connections per open-loop row (default 16)
  --concurrency N      closed-loop requests in flight (default 32)
  --idle-connections N idle app connections held (default 1000)
  --profile            run the shared Hearths (and the invoke rows' two agents) under node --cpu-prof and summarise the profiles
                       (bench/results/profiles/; latencies of a profiled run are not comparable)`;

export interface CliOptions {
  settings: RunSettings;
  help: boolean;
  list: boolean;
}

function positive(flag: string, value: string | undefined, max: number): number {
  const n = Number(value);
  if (value === undefined || !Number.isFinite(n) || n <= 0 || n > max) throw new Error(`${flag}: expected a number in (0, ${max}]`);
  return n;
}

export function parseCliOptions(argv: readonly string[]): CliOptions {
  const quick = argv.includes('--quick');
  const settings: RunSettings = {
    quick,
    only: null,
    rate: 1000,
    durationMs: quick ? 4_000 : 60_000,
    rounds: quick ? 1 : 6,
    warmupMs: quick ? 1_000 : 5_000,
    connections: 16,
    payloadBytes: 1024,
    closedConcurrency: 32,
    closedDurationMs: quick ? 3_000 : 20_000,
    idleConnections: 1000,
    profile: false,
  };
  let help = false;
  let list = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string | undefined => argv[++i];
    switch (flag) {
      case '--quick':
        break;
      case '--help':
      case '-h':
        help = true;
        break;
      case '--profile':
        settings.profile = true;
        break;
      case '--list':
        list = true;
        break;
      case '--only':
        settings.only = (value() ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);
        if (settings.only.length === 0) throw new Error('--only: expected scenario ids');
        break;
      case '--rate':
        settings.rate = positive(flag, value(), 100_000);
        break;
      case '--duration':
        settings.durationMs = positive(flag, value(), 3_600) * 1000;
        break;
      case '--rounds':
        settings.rounds = Math.round(positive(flag, value(), 600));
        break;
      case '--warmup':
        settings.warmupMs = positive(flag, value(), 600) * 1000;
        break;
      case '--connections':
        settings.connections = Math.round(positive(flag, value(), 4096));
        break;
      case '--concurrency':
        settings.closedConcurrency = Math.round(positive(flag, value(), 4096));
        break;
      case '--idle-connections':
        settings.idleConnections = Math.round(positive(flag, value(), 20_000));
        break;
      default:
        throw new Error(`unknown argument ${flag ?? ''}\n${USAGE}`);
    }
  }
  return { settings, help, list };
}
