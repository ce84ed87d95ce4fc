import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, parseCommandLine, validateOptions, type ReplicaOptions } from '../src/cli/options.js';
import { isParaError } from '../src/errors.js';

/** Expect PARAREPLICA_BAD_OPTION whose message contains every given fragment. */
function badOption(fn: () => unknown, ...fragments: string[]): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isParaError(e), `expected ParaError, got ${String(e)}`);
    assert.equal(e.code, 'PARAREPLICA_BAD_OPTION');
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return e.message;
  }
  assert.fail('expected a PARAREPLICA_BAD_OPTION error');
}

describe('parseArgs: defaults and every flag', () => {
  it('fills defaults', () => {
    const o = parseArgs([]);
    assert.deepEqual(o, {
      master: { host: '127.0.0.1', port: 6379 }, port: 6380, bind: '127.0.0.1', dir: resolve('parareplica-data'),
      workers: availableParallelism(), logLevel: 'info', replTimeout: 60, ringBytes: 1024 * 1024,
      relaySegmentBytes: 64 * 1024 * 1024, relayBufferBytes: 64 * 1024 * 1024, skipErrors: false, workersExplicit: false,
      progressBar: false,   // the tests' stdout is not a terminal
    } satisfies ReplicaOptions);
  });

  it('reads every flag', () => {
    const o = parseArgs([
      '--master', '10.0.0.5:7000', '--port', '0', '--bind', '0.0.0.0', '--dir', '/tmp/pr-x', '--workers', '3',
      '--masterauth', 'pw', '--masteruser', 'repl', '--log-level', 'debug', '--repl-timeout', '5',
      '--replica-announce-ip', '10.1.2.3', '--ring-bytes', '65536', '--relay-segment-size', '1mb',
      '--relay-buffer-size', '128kb', '--skip-errors', '--no-progress',
    ]);
    assert.deepEqual(o, {
      master: { host: '10.0.0.5', port: 7000, user: 'repl', password: 'pw' }, port: 0, bind: '0.0.0.0',
      dir: '/tmp/pr-x', workers: 3, masterauth: 'pw', masteruser: 'repl', logLevel: 'debug', replTimeout: 5,
      announceIp: '10.1.2.3', ringBytes: 65536, relaySegmentBytes: 1 << 20, relayBufferBytes: 128 << 10,
      skipErrors: true, workersExplicit: true, progressBar: false,
    } satisfies ReplicaOptions);
  });

  it('accepts --flag=value, upper-case levels and the last of repeated flags', () => {
    const o = parseArgs(['--port=7001', '--log-level=TRACE', '--port', '7002']);
    assert.equal(o.port, 7002);
    assert.equal(o.logLevel, 'trace');
  });

  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace']) {
    it(`accepts --log-level ${level}`, () => assert.equal(parseArgs(['--log-level', level]).logLevel, level));
  }

  it('parses master address forms', () => {
    const m = (s: string) => parseArgs(['--master', s]).master;
    assert.deepEqual(m('redis.example.com'), { host: 'redis.example.com', port: 6379 });
    assert.deepEqual(m('[::1]:6390'), { host: '::1', port: 6390 });
    assert.deepEqual(m('[::1]'), { host: '::1', port: 6379 });
    assert.deepEqual(m('redis://h:1'), { host: 'h', port: 1 });
    assert.deepEqual(m('redis://h/'), { host: 'h', port: 6379 });
    assert.deepEqual(m('REDIS://u:p%40ss@[fe80::1]:6379'), { host: 'fe80::1', port: 6379, user: 'u', password: 'p@ss' });
    assert.deepEqual(m('redis://:only-pass@h:2'), { host: 'h', port: 2, password: 'only-pass' });
  });

  it('gives --masterauth / --masteruser precedence over the URL', () => {
    const o = parseArgs(['--master', 'redis://u1:p1@h:1', '--masterauth', 'p2']);
    assert.deepEqual(o.master, { host: 'h', port: 1, user: 'u1', password: 'p2' });
    assert.equal(o.masterauth, 'p2');
    assert.equal(o.masteruser, 'u1');
    const o2 = parseArgs(['--master', 'redis://u1:p1@h:1', '--masteruser', 'u2']);
    assert.deepEqual(o2.master, { host: 'h', port: 1, user: 'u2', password: 'p1' });
  });

  it('parses redis.conf sizes for --ring-bytes', () => {
    const r = (s: string) => parseArgs(['--ring-bytes', s]).ringBytes;
    assert.equal(r('64kb'), 65536);
    assert.equal(r('8MB'), 8 << 20);
    assert.equal(r('1gb'), 1 << 30);
    assert.equal(r('131072'), 131072);
  });
});

describe('parseArgs: bad values name the flag, the value and what is allowed', () => {
  const cases: Array<[string[], ...string[]]> = [
    [['--port', 'abc'], '--port', '"abc"', '0 to 65535'],
    [['--port', '-1'], '--port', '"-1"'],
    [['--port', '65536'], '--port', '65536'],
    [['--port', '80.5'], '--port', '80.5'],
    [['--workers', '0'], '--workers', '"0"', '1 to 256'],
    [['--workers', '257'], '--workers', '257'],
    [['--workers', 'many'], '--workers', 'many'],
    [['--repl-timeout', '0'], '--repl-timeout', '"0"', 'seconds'],
    [['--repl-timeout', '1.5'], '--repl-timeout', '1.5'],
    [['--repl-timeout', '99999999'], '--repl-timeout'],
    [['--log-level', 'verbose'], '--log-level', 'verbose', 'fatal, error, warn, info, debug, trace'],
    [['--ring-bytes', '1000000'], '--ring-bytes', '1000000', 'power of two'],
    [['--ring-bytes', '32kb'], '--ring-bytes', '32kb', '64kb'],
    [['--ring-bytes', '2gb'], '--ring-bytes', '2gb', '1gb'],
    [['--ring-bytes', '8m'], '--ring-bytes', '"8m"', 'kb/mb/gb'],
    [['--ring-bytes', 'big'], '--ring-bytes', 'big'],
    [['--bind', 'not a host'], '--bind', 'not a host'],
    [['--bind', '*'], '--bind', '"*"', '0.0.0.0'],
    [['--dir', ''], '--dir', 'directory'],
    [['--replica-announce-ip', 'x'.repeat(256)], '--replica-announce-ip', '256 bytes'],
    [['--replica-announce-ip', 'a b'], '--replica-announce-ip', '"a b"'],
    [['--masteruser', 'bob'], '--masteruser', 'bob', '--masterauth'],
    [['--masteruser', 'a b', '--masterauth', 'x'], '--masteruser', 'spaces'],
    [['--master', 'redis://bob@h:1'], '--master', 'needs a password'],
    [['--master', 'h:0'], '--master', '"h:0"', '1 to 65535'],
    [['--master', 'h:x'], '--master', 'h:x'],
    [['--master', 'h:'], '--master', '"h:"'],
    [['--master', '::1'], '--master', 'brackets'],
    [['--master', '[nope]:1'], '--master', 'IPv6'],
    [['--master', ''], '--master'],
    [['--master', 'bad host:1'], '--master', 'bad host:1'],
    [['--master', 'rediss://h:1'], '--master', 'TLS'],
    [['--master', 'http://h:1'], '--master', 'http://h:1', 'redis://'],
    [['--master', 'redis://h:1/3'], '--master', '/3', 'every database'],
    [['--master', 'redis://h:1?x=1'], '--master', '?x=1'],
    [['--master', 'redis://u:%zz@h:1'], '--master', '%-escape'],
    [['--foo'], '--foo'],
    [['--port'], '--port', 'missing'],
    [['extra'], 'extra'],
  ];
  for (const [argv, ...frags] of cases) {
    it(argv.join(' ').slice(0, 60) || '(empty)', () => { badOption(() => parseArgs(argv), ...frags); });
  }

  it('never shows passwords', () => {
    const msg = badOption(() => parseArgs(['--master', 'redis://u:s3cret@h:1/9']), '--master');
    assert.ok(!msg.includes('s3cret'));
    const msg2 = badOption(() => parseArgs(['--masterauth', '']), '--masterauth', '(hidden)');
    assert.ok(!msg2.includes('""'));
  });
});

describe('--help and --version', () => {
  it('lists every flag with its default', () => {
    const r = parseCommandLine(['--help']);
    assert.equal(r.kind, 'help');
    const text = (r as { text: string }).text;
    for (const f of ['--master', '--port', '--bind', '--dir', '--workers', '--masterauth', '--masteruser', '--log-level',
      '--repl-timeout', '--replica-announce-ip', '--ring-bytes', '--version', '--help']) {
      assert.ok(text.includes(f), `help lacks ${f}`);
    }
    const flat = text.replace(/\s+/g, ' ');
    for (const d of ['(default: 127.0.0.1:6379)', '(default: 6380)', '(default: 127.0.0.1)', '(default: ./parareplica-data)',
      `(default: ${availableParallelism()}`, '(default: info)', '(default: 60)', '(default: 1mb)']) {
      assert.ok(flat.includes(d), `help lacks ${d}`);
    }
  });

  it('prints the package version', () => {
    const r = parseCommandLine(['--version']);
    assert.equal(r.kind, 'version');
    assert.match((r as { text: string }).text, /^\d+\.\d+\.\d+/);
  });

  it('parseArgs prints help / version and exits 0', () => {
    const mod = resolve(fileURLToPath(import.meta.url), '../../src/cli/options.js');
    for (const flag of ['--help', '-h', '--version', '-V']) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e',
        `import { parseArgs } from ${JSON.stringify(mod)}; parseArgs([${JSON.stringify(flag)}]); console.log('NOT EXITED');`],
      { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(!r.stdout.includes('NOT EXITED'));
      assert.ok(r.stdout.length > 0);
    }
  });
});

describe('validateOptions (embedding API)', () => {
  it('fills defaults and is idempotent', () => {
    const o = validateOptions({ master: { host: 'h', port: 1 }, dir: 'd' });
    assert.equal(o.port, 6380);
    assert.equal(o.dir, resolve('d'));
    assert.deepEqual(validateOptions(o), o);
    assert.deepEqual(validateOptions(parseArgs(['--masterauth', 'x'])), parseArgs(['--masterauth', 'x']));
  });

  it('accepts the master as a string and masterauth over master.password', () => {
    assert.deepEqual(validateOptions({ master: 'redis://h:2' as never }).master, { host: 'h', port: 2 });
    const o = validateOptions({ master: { host: '[::1]', port: 3, password: 'a' }, masterauth: 'b' });
    assert.deepEqual(o.master, { host: '::1', port: 3, password: 'b' });
  });

  it('rejects bad values naming the option', () => {
    badOption(() => validateOptions({ port: 70000 }), 'option port', '70000');
    badOption(() => validateOptions({ workers: 2.5 }), 'option workers', '2.5');
    badOption(() => validateOptions({ ringBytes: 3 << 20 }), 'option ringBytes', String(3 << 20));
    badOption(() => validateOptions({ logLevel: 'loud' as never }), 'option logLevel', 'loud');
    badOption(() => validateOptions({ master: { host: '', port: 1 } }), 'master.host');
    badOption(() => validateOptions({ master: { host: 'h', port: 0 } }), 'master.port');
    badOption(() => validateOptions({ master: { host: 'h', port: 1, password: '' } }), 'master.password', '(hidden)');
    badOption(() => validateOptions({ replTimeout: -3 }), 'option replTimeout', '-3');
    badOption(() => validateOptions({ masterPassword: 'x' } as never), 'masterPassword', 'known');
    badOption(() => validateOptions({ workersExplicit: 'yes' } as never), 'workersExplicit');
    badOption(() => validateOptions(null as never), 'options');
  });
});
