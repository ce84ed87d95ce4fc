/**
 * Replica processes for end-to-end tests, started the way `npm start` starts them: through the
 * launcher (src/cli/parareplica.sh), which preloads jemalloc when installed and execs node in place,
 * so the child's PID is the replica's own and SIGTERM / SIGKILL reach it.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';

export const LAUNCHER = new URL('../../../src/cli/parareplica.sh', import.meta.url).pathname;

export interface LaunchOptions {
  masterPort: number;
  port: number;
  dir: string;
  workers: number;
  logLevel?: string;
  /** More CLI flags, after the ones above. */
  extra?: string[];
  /** Default: stdin and stdout ignored, stderr inherited. */
  stdio?: StdioOptions;
  /** Default: this process's environment. */
  env?: NodeJS.ProcessEnv;
}

export function launchReplica(o: LaunchOptions): ChildProcess {
  return spawn('sh', [LAUNCHER, '--master', `127.0.0.1:${o.masterPort}`, '--port', String(o.port), '--dir', o.dir,
    '--workers', String(o.workers), '--log-level', o.logLevel ?? 'warn', ...(o.extra ?? [])],
  { stdio: o.stdio ?? ['ignore', 'ignore', 'inherit'], env: o.env ?? process.env });
}
