/** The relay log: the master's stream, on disk, between the link and the router. */
export { RelayLog, relayDirOf, type RelayLogOptions, type StreamPos } from './relay-log.js';
export { scanCommands, type ScanResult, type ScanState } from './resp-scan.js';
