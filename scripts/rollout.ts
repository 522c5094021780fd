#!/usr/bin/env node
// scripts/rollout (compiled: dist/scripts/rollout.js): upgrades or rolls back a fleet of Hearth
// hosts through their admin API on TCP — pre-flight, canary, batches, automatic stop, summary.
// The only rollout file that touches the process (argv, signals, exit); the work is in
// rollout-runner.ts. Ctrl-C lets the running batch finish (a hand-off cut off halfway would leave
// the fleet in a state nobody chose) and then stops; a second Ctrl-C leaves at once, and the hosts
// still finish their hand-offs on their own.
import { loadRolloutOptions, USAGE } from './rollout-args.js';
import { ROLLOUT_ERROR_CATALOG, RolloutError } from './rollout-errors.js';
import { formatReport } from './rollout-report.js';
import { Rollout } from './rollout-runner.js';

async function main(argv: string[]): Promise<number> {
  const options = await loadRolloutOptions(argv, process.cwd());
  if (options === 'help') {
    console.log(USAGE);
    return 0;
  }
  // With --json, stdout carries the summary alone; progress goes to stderr.
  const progress = options.json ? (line: string) => console.error(line) : (line: string) => console.log(line);

  const interrupted = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted.signal.aborted) {
      console.error(`rollout: ${signal} again: leaving now; hand-offs already sent carry on on their hosts (check with --dry-run)`);
      process.exit(130);
    }
    console.error(`rollout: ${signal}: finishing the running batch, then stopping (again to leave at once)`);
    interrupted.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const report = await new Rollout(options, progress, interrupted.signal).run();
  if (options.json) console.log(JSON.stringify(report, null, 2));
  else console.log(`\n${formatReport(report)}`);
  return report.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof RolloutError) {
      console.error(`rollout: [${err.code}] ${err.message}${err.code === 'HEARTH_ERR_USAGE' ? `\n\n${USAGE}` : ''}`);
      process.exit(err.code === 'HEARTH_ERR_USAGE' ? ROLLOUT_ERROR_CATALOG.HEARTH_ERR_USAGE.exit : 1);
    }
    console.error(`rollout: [HEARTH_ERR_INTERNAL] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
