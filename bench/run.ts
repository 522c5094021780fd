// `npm run bench`: the entry point (the only bench file that touches argv, signals and exit).
// Progress goes to stderr, the report to stdout and bench/results/.
import { CleanupStack } from './harness/cleanup-stack.js';
import { parseCliOptions, USAGE } from './cli-options.js';
import { renderMarkdown } from './report/markdown-report.js';
import { writeResults } from './report/write-results.js';
import { runBench } from './run-bench.js';
import { scenarios, selectScenarios } from './scenarios/registry.js';

const log = (message: string): void => console.error(message);

async function main(): Promise<number> {
  const options = parseCliOptions(process.argv.slice(2));
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  if (options.list) {
    for (const s of scenarios) console.log(`${s.id.padEnd(18)} ${s.title}`);
    return 0;
  }
  const selected = selectScenarios(options.settings.only);
  const cleanup = new CleanupStack();
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) process.exit(130);
    signalled = true;
    log(`${signal}: stopping every process the bench started`);
    void cleanup.runAll(log, true).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const report = await runBench(options.settings, selected, cleanup, log);
    console.log(renderMarkdown(report));
    const written = writeResults(report);
    log(`wrote ${written.md} and ${written.json}`);
    return report.failures.length > 0 ? 1 : 0;
  } finally {
    await cleanup.runAll(log);
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  log(err instanceof Error ? err.message : String(err));
  process.exit(2);
});
