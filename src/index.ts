/** Embedding API. */
export { Replica, type ReplicaStartOptions } from './replica.js';
export { ParaError, isParaError, type ErrorCode } from './errors.js';
export { validateOptions, parseArgs, type ReplicaOptions } from './cli/options.js';
export { VERSION } from './version.js';
