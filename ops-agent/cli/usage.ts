// Usage text and the error that makes the CLI exit 2.
import { OpsError } from '../ops-errors.js';

export const USAGE = `Usage: hearth <command> [options]

Commands:
  start    [--config FILE]                     run the ops-agent and its workers (default config /etc/hearth/hearth.yaml)
  status   [TARGET] [--json]                   show the active version and generation, workers, apps, components
                                               and the last upgrade with its phase timings
  upgrade  --artifact PATH|file://…|http(s)://… --sha256 HEX [--signature FILE] [TARGET]
                                               install a release artifact and hand the sockets to it; prints progress,
                                               exits 0 once the new build serves and the old generation has exited
  rollback [TARGET]                            hand back to the previous version
  reload   [TARGET]                            re-read the configuration and hand off to a new generation of the
                                               same build (add/remove apps, reconfigure components); SIGHUP does the same
  versions [TARGET] [--json]                   list installed versions, the active and the previous one
  validate --config FILE                       check a configuration file; prints OK or every problem

TARGET (which running agent):
  --config FILE    the agent this configuration describes (default /etc/hearth/hearth.yaml if present)
  --run-dir DIR    the agent whose admin socket is DIR/admin.sock (default /run/hearth)

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
