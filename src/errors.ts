/**
 * Errors are values with stable codes. Every error that crosses a module boundary is a
 * ParaError whose `code` starts with PARAREPLICA_ and whose message says what to do.
 */
export type ErrorCode =
  | 'PARAREPLICA_BAD_OPTION'        // a CLI flag or API option is invalid
  | 'PARAREPLICA_PROTOCOL'          // the master sent bytes that are not valid RESP / replication framing
  | 'PARAREPLICA_HANDSHAKE'         // the master refused a handshake step (AUTH, PSYNC…)
  | 'PARAREPLICA_RDB_CORRUPT'       // the snapshot is malformed (bad length, bad LZF, CRC mismatch…)
  | 'PARAREPLICA_RDB_UNSUPPORTED'   // the snapshot holds something this version cannot load
  | 'PARAREPLICA_RESYNC'            // the replica dropped the link itself to ask for a new full sync
  | 'PARAREPLICA_UNSUPPORTED_COMMAND' // the stream holds a command this version cannot apply
  | 'PARAREPLICA_APPLY_FAILED'      // an applier could not apply a command (storage error…)
  | 'PARAREPLICA_DATA_DIR'          // the data directory is unusable or was written by another layout
  | 'PARAREPLICA_CLIENT_INPUT'      // a read-server client sent malformed or oversized input
  | 'PARAREPLICA_SHUTDOWN'          // the operation was cancelled because the replica is stopping
  | 'PARAREPLICA_CANCELLED'         // an applier's wait (cross-shard exchange) ended because the process stops
  | 'PARAREPLICA_EXCHANGE_SOURCE_HALTED' // a cross-shard command needs a shard that halted earlier
  | 'PARAREPLICA_TIMEOUT';          // a wait ran past its deadline

export class ParaError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable facts (offset, command, key…), logged with the error. */
  readonly details: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ParaError';
    this.code = code;
    this.details = details;
  }
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.details };
  }
}

export function isParaError(e: unknown): e is ParaError {
  return e instanceof ParaError;
}
