import { workerData, parentPort } from 'node:worker_threads';
import { RingConsumer } from '../../src/shm/ring.js';

const { sab, port, total } = workerData as { sab: SharedArrayBuffer; port: import('node:worker_threads').MessagePort; total: number };
const c = new RingConsumer(sab, port);
let count = 0, sum = 0, bad = 0;
while (count < total) {
  if (!c.waitForDataSync(100)) continue;
  while (c.next()) {
    const p = c.payload();
    const v = p.readUInt32LE(0);
    if (v !== c.aux || v !== count) bad++;
    sum += v;
    count++;
  }
  c.release();
}
parentPort!.postMessage({ count, sum, bad });
