// Usage text and the error that makes the CLI exit 2.
import { OpsError } from '../ops-errors.js';

export const USAGE = `Usage: hearth <command> [options]

Commands:
  start    [--config FILE]                     run the ops-agent and its workers (default config /etc/hearth/hearth.yaml)
  status   [--config FILE | --run-dir DIR] [--json]
                                               show workers, apps and components of a running agent
  validate --config FILE                       check a configuration file; prints OK or every problem

Options:
  -h, --help       show this help
  -v, --version    print the version
`;

export const DEFAULT_CONFIG_FILE = '/etc/hearth/hearth.yaml';

export class UsageError extends OpsError {
  constructor(message: string) {
    super('HEARTH_ERR_USAGE', message);
    this.name = 'UsageError';
  }
}
