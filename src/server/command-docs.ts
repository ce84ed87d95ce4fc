/**
 * Replies for COMMAND, COMMAND COUNT / INFO / LIST / DOCS / HELP, built from the router's command table.
 * Enough for redis-cli 7 and client libraries: redis-cli's interactive mode reads `COMMAND` and expects
 * each entry to start with a name (bulk) and an arity (integer), with integer key positions at 3..5.
 *
 * One entry (RESP2), as Redis 7.0 sends it:
 *   *10  $name  :arity  *[+flag…]  :firstKey  :lastKey  :step  *[+@category…]  *[tips]  *[key specs]  *[subcommands]
 */
import {
  allCommands, lookupCommand, CMD_WRITE, CMD_READONLY, CMD_LOADING_OK, CMD_CONNECTION, CMD_MOVABLE_KEYS,
  type CommandSpec,
} from '../router/command-table.js';

type Reply = unknown;

function flagsOf(spec: CommandSpec): Reply[] {
  const out: Reply[] = [];
  if (spec.flags & CMD_WRITE) out.push({ status: 'write' });
  if (spec.flags & CMD_READONLY) out.push({ status: 'readonly' });
  if (spec.flags & CMD_LOADING_OK) out.push({ status: 'loading' }, { status: 'stale' });
  if (spec.flags & CMD_MOVABLE_KEYS) out.push({ status: 'movablekeys' });
  return out;
}

function categoriesOf(spec: CommandSpec): Reply[] {
  if (spec.flags & CMD_WRITE) return [{ status: '@write' }];
  if (spec.flags & CMD_READONLY) return [{ status: '@read' }];
  if (spec.flags & CMD_CONNECTION) return [{ status: '@connection' }];
  return [];
}

function entryOf(spec: CommandSpec): Reply[] {
  return [
    Buffer.from(spec.name), spec.arity, flagsOf(spec), spec.firstKey, spec.lastKey, spec.step,
    categoriesOf(spec), [], [], [],
  ];
}

let cachedAll: Reply[] | undefined;
let cachedNames: Reply[] | undefined;

/** COMMAND (no arguments): every known command. */
export function commandAll(): Reply[] {
  if (cachedAll === undefined) cachedAll = [...allCommands()].map(entryOf);
  return cachedAll;
}

export function commandCount(): number {
  return commandAll().length;
}

/** COMMAND LIST: every command name. */
export function commandList(): Reply[] {
  if (cachedNames === undefined) cachedNames = [...allCommands()].map((s) => Buffer.from(s.name));
  return cachedNames;
}

/** COMMAND INFO name…: one entry per name, null for an unknown one; no names = every command. */
export function commandInfo(names: readonly Buffer[]): Reply[] {
  if (names.length === 0) return commandAll();
  return names.map((n) => {
    const spec = lookupCommand(n.toString('latin1'));
    return spec ? entryOf(spec) : null;
  });
}

/** COMMAND DOCS: documentation is not carried; an empty map (an empty array in RESP2) is valid. */
export function commandDocs(): Reply[] {
  return [];
}

export const COMMAND_HELP: Reply[] = [
  'COMMAND [<subcommand> [<arg> ...]] (parareplica read server). Subcommands:',
  '(none)',
  '    Describe every command this server knows.',
  'COUNT',
  '    How many commands this server knows.',
  'LIST',
  '    The names of those commands.',
  'INFO [<command-name> ...]',
  '    Describe the named commands (all of them when none is named).',
  'DOCS [<command-name> ...]',
  '    Documentation; this server carries none and replies with an empty map.',
  'HELP',
  '    Show this text.',
].map((s) => ({ status: s }));

export const CLIENT_HELP: Reply[] = [
  'CLIENT <subcommand> [<arg> ...] (parareplica read server). Subcommands:',
  'ID',
  '    This connection\'s numeric id.',
  'GETNAME',
  '    This connection\'s name, or nil when it has none.',
  'SETNAME <name>',
  '    Name this connection (printable characters, no spaces; empty clears it).',
  'INFO',
  '    One line describing this connection.',
  'LIST [TYPE <normal|master|replica|pubsub>] [ID <id> [<id> ...]]',
  '    One line per connected client.',
  'HELP',
  '    Show this text.',
].map((s) => ({ status: s }));
