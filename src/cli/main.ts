#!/usr/bin/env node
/**
 * `parareplica`: run a replica process.
 *   parareplica --master 127.0.0.1:6379 --port 6380 --dir ./parareplica-data
 * SIGINT / SIGTERM stop it cleanly (appliers finish their group and commit; the next start resumes).
 */
import pino from 'pino';
import { parseArgs } from './options.js';
import { Replica } from '../replica.js';
import { isParaError } from '../errors.js';
import { allocator } from '../util/memory.js';

async function main(): Promise<void> {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`parareplica: ${(e as Error).message}\n(see parareplica --help)\n`);
    process.exit(2);
  }
  const log = pino({ level: options.logLevel });
  const alloc = allocator();
  if (alloc.name === 'jemalloc') log.info({ allocator: alloc.name, path: alloc.path }, 'memory allocator: jemalloc');
  else log.info({ allocator: alloc.name }, 'memory allocator: the system malloc; RSS grows during big snapshot loads — start with `npm start` or src/cli/parareplica.sh, which use jemalloc when installed (Debian: libjemalloc2)');
  let replica: Replica;
  try {
    replica = await Replica.start({ ...options, workers: options.workersExplicit ? options.workers : undefined, logger: log });
  } catch (e) {
    if (isParaError(e)) log.fatal({ code: e.code, ...e.details }, e.message);
    else log.fatal({ err: e }, 'parareplica failed to start');
    process.exit(1);
  }
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) { log.warn('second signal: exiting now'); process.exit(1); }
    stopping = true;
    log.info({ signal: sig }, 'stopping');
    replica.stop().then(() => process.exit(0), (err) => { log.error({ err }, 'error while stopping'); process.exit(1); });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

void main();
