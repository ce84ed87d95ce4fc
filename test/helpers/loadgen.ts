/**
 * A seeded mixed-traffic generator, run as a child process so it does not share the replica's event
 * loop: `node loadgen.js <port> <seed> <seconds> <opsPerSecond>`. It sends pipelines of random commands
 * of every type the core engine applies (strings, expiry, hashes, lists, sets, sorted sets, DEL with
 * several keys, MULTI/EXEC on hash-tagged keys) over 4 databases, with keys shared across types so that
 * WRONGTYPE and no-op writes happen too. Prints the number of commands sent.
 */
import { Client } from './redis.js';

type Arg = string | number;

export function makeRng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 0x100000000; };
}

export function commandGenerator(seed: number, keysPerType = 50): () => Arg[][] {
  const rnd = makeRng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: T[]): T => xs[int(xs.length)];
  const key = (p: string) => (rnd() < 0.05 ? `shared:${int(10)}` : `${p}:${int(keysPerType)}`);
  const val = () => (rnd() < 0.3 ? String(int(1000) - 500) : 'v' + 'x'.repeat(int(rnd() < 0.1 ? 100 : 8)));
  const member = () => `m${int(rnd() < 0.2 ? 300 : 20)}`;
  const score = () => pick([String(int(100)), (rnd() * 100 - 50).toFixed(3), '-inf', '+inf', '0', '1e-3']);
  const gens: Array<() => Arg[][]> = [
    () => [['SET', key('s'), val()]],
    () => (rnd() < 0.5 ? [['SET', key('s'), val(), 'EX', 100 + int(100)]] : [['SET', key('s'), val(), 'PX', 100000 + int(1000)]]),
    () => [['SET', key('s'), val(), pick(['NX', 'XX', 'KEEPTTL', 'GET'])]],
    () => [['SETNX', key('s'), val()]], () => [['APPEND', key('s'), val()]],
    () => [['SETRANGE', key('s'), int(20), 'zz']], () => [['INCR', key('n')]], () => [['DECR', key('n')]],
    () => [['INCRBY', key('n'), int(100) - 50]], () => [['DECRBY', key('n'), int(10)]], () => [['GETSET', key('s'), val()]],
    () => [['EXPIRE', key(pick(['s', 'n', 'h', 'z'])), 100 + int(500), ...(rnd() < 0.3 ? [pick(['NX', 'XX', 'GT', 'LT'])] : [])]],
    () => [['PEXPIRE', key('l'), 200000 + int(1000)]], () => [['PERSIST', key(pick(['s', 'n', 'h']))]],
    () => [['DEL', key(pick(['s', 'n', 'h', 'l', 'st', 'z']))]],
    () => [['DEL', key('s'), key('n'), key('h')]],
    () => [['HSET', key('h'), `f${int(20)}`, val(), ...(rnd() < 0.3 ? [`f${int(200)}`, val()] : [])]],
    () => [['HMSET', key('h'), `f${int(20)}`, val()]], () => [['HSETNX', key('h'), `f${int(30)}`, val()]],
    () => [['HDEL', key('h'), `f${int(20)}`, `f${int(20)}`]], () => [['HINCRBY', key('h'), 'cnt', int(10) - 3]],
    () => [[pick(['LPUSH', 'RPUSH']), key('l'), val(), ...(rnd() < 0.3 ? [val(), val()] : [])]],
    () => [[pick(['LPUSHX', 'RPUSHX']), key('l'), val()]],
    () => [[pick(['LPOP', 'RPOP']), key('l'), ...(rnd() < 0.5 ? [1 + int(3)] : [])]],
    () => [['LSET', key('l'), int(5) - 2, val()]], () => [['LINSERT', key('l'), pick(['BEFORE', 'AFTER']), val(), 'ins']],
    () => [['LREM', key('l'), int(5) - 2, val()]], () => [['LTRIM', key('l'), int(3), 50 + int(100)]],
    () => [['SADD', key('st'), member(), ...(rnd() < 0.3 ? [member(), member()] : [])]],
    () => [['SREM', key('st'), member()]],
    () => [['ZADD', key('z'), ...(rnd() < 0.3 ? [pick(['NX', 'XX', 'GT', 'LT', 'CH'])] : []), score(), member()]],
    () => [['ZADD', key('z'), 'INCR', score() === '-inf' ? '1' : String(int(10)), member()]],
    () => [['ZINCRBY', key('z'), int(10) - 5, member()]], () => [['ZREM', key('z'), member()]],
    () => [['ZREMRANGEBYSCORE', key('z'), pick(['-inf', '(1', '10']), pick(['+inf', '20', '(50'])]],
    () => [['ZREMRANGEBYRANK', key('z'), int(3), int(5) + 3]], () => [['ZREMRANGEBYLEX', key('z'), '[m1', '(m2']],
    () => [[pick(['ZPOPMIN', 'ZPOPMAX']), key('z'), ...(rnd() < 0.5 ? [1 + int(3)] : [])]],
    () => { const t = `{t${int(10)}}`; return [['MULTI'], ['SET', `${t}:a`, val()], ['INCR', `${t}:n`], ['HSET', `${t}:h`, 'f', val()], ['EXEC']]; },
  ];
  let db = 0;
  return () => {
    const out: Arg[][] = [];
    if (rnd() < 0.05) { db = int(4); out.push(['SELECT', db]); }
    out.push(...pick(gens)());
    return out;
  };
}

async function main(): Promise<void> {
  const [port, seed, seconds, rate] = process.argv.slice(2).map(Number);
  const c = await Client.connect(port);
  const next = commandGenerator(seed);
  const deadline = Date.now() + seconds * 1000;
  let sent = 0;
  const batch = 100;
  while (Date.now() < deadline) {
    const t0 = Date.now();
    const cmds: Arg[][] = [];
    while (cmds.length < batch) cmds.push(...next());
    await c.pipeline(cmds);
    sent += cmds.length;
    const wait = (cmds.length / rate) * 1000 - (Date.now() - t0);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  c.close();
  process.stdout.write(`${sent}\n`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) void main();
