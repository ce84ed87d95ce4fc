import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { RingProducer, RingConsumer } from '../src/shm/ring.js';
import { RING_HEADER_BYTES } from '../src/shm/layout.js';

function newRing(cap: number) {
  const sab = new SharedArrayBuffer(RING_HEADER_BYTES + cap);
  const ch = new MessageChannel();
  return { sab, producer: new RingProducer(sab, ch.port1), consumer: new RingConsumer(sab, ch.port2), ch };
}

test('ring: random interleavings of writes and reads keep order and bytes, including wrap and spill', () => {
  fc.assert(fc.property(
    fc.array(fc.oneof(
      fc.record({ op: fc.constant('w' as const), len: fc.oneof(fc.nat(64), fc.nat(3000), fc.integer({ min: 1000, max: 6000 })), seed: fc.nat(255) }),
      fc.record({ op: fc.constant('r' as const), n: fc.nat(5) }),
    ), { maxLength: 200 }),
    (ops) => {
      const { producer, consumer, ch } = newRing(4096);
      const expected: Buffer[] = [];
      let next = 0;
      let seq = 0;
      const drain = (max: number) => {
        for (let i = 0; i < max && consumer.next(); i++) {
          assert.equal(consumer.kind, 1);
          assert.equal(consumer.aux, next);
          assert.equal(consumer.offset, next * 1.5);
          assert.deepEqual(Buffer.from(consumer.payload()), expected[next]);
          next++;
        }
        consumer.release();
      };
      for (const op of ops) {
        if (op.op === 'w') {
          const b = Buffer.alloc(op.len, op.seed);
          if (op.len > 0) b[0] = seq & 0xff;
          if (producer.tryWrite(1, 0, 3, seq * 1.5, seq, b)) { expected.push(b); seq++; }
          else { drain(1000); assert.ok(producer.tryWrite(1, 0, 3, seq * 1.5, seq, b), 'an empty ring takes any record'); expected.push(b); seq++; }
        } else drain(op.n);
      }
      drain(100000);
      assert.equal(next, expected.length);
      assert.equal(producer.depth(), 0);
      ch.port1.close(); ch.port2.close();
    }), { numRuns: 200 });
});

test('ring: a full ring refuses writes until the consumer releases', () => {
  const { producer, consumer, ch } = newRing(4096);
  let n = 0;
  while (producer.tryWrite(1, 0, 0, n, n, Buffer.alloc(100))) n++;
  assert.ok(n > 10 && n < 40);
  assert.equal(producer.tryWrite(1, 0, 0, n, n, Buffer.alloc(100)), false);
  assert.ok(consumer.next());
  assert.equal(producer.tryWrite(1, 0, 0, n, n, Buffer.alloc(100)), false, 'read but not released: still full');
  consumer.release();
  assert.equal(producer.tryWrite(1, 0, 0, n, n, Buffer.alloc(100)), true);
  ch.port1.close(); ch.port2.close();
});

test('ring: cross-thread producer/consumer with parking moves 200k records in order', async () => {
  const cap = 1 << 16;
  const sab = new SharedArrayBuffer(RING_HEADER_BYTES + cap);
  const ch = new MessageChannel();
  const producer = new RingProducer(sab, ch.port1);
  const total = 200_000;
  const worker = new Worker(new URL('./helpers/ring-consumer-worker.js', import.meta.url), {
    workerData: { sab, port: ch.port2, total }, transferList: [ch.port2],
  });
  const done = new Promise<{ sum: number; count: number; bad: number }>((res, rej) => { worker.on('message', res); worker.on('error', rej); });
  let expectedSum = 0;
  const payload = Buffer.alloc(200000);
  for (let i = 0; i < total; i++) {
    const len = i % 1000 === 0 ? 20000 : (i % 37);   // every 1000th record is spilled
    payload.writeUInt32LE(i, 0);
    expectedSum += i;
    while (!producer.tryWrite(1, 0, 0, i, i, payload, 0, Math.max(4, len))) {
      producer.wakeConsumer();
      await producer.waitForSpace(20);
    }
    if (i % 64 === 0) producer.wakeConsumer();
  }
  producer.wakeConsumer();
  const r = await done;
  await worker.terminate();
  assert.equal(r.bad, 0);
  assert.equal(r.count, total);
  assert.equal(r.sum, expectedSum);
});
