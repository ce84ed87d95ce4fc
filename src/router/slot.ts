/**
 * Key → slot → shard, as Redis Cluster hashes keys:
 *   slot = CRC16(hashed part) mod 16384, CRC16 = CCITT/XMODEM (poly 0x1021, init 0, no reflection).
 *   The hashed part is the whole key, unless the key holds a `{…}` with at least one byte between the
 *   first `{` and the first `}` after it; then only those bytes are hashed ("hash tags": {user1}:a and
 *   {user1}:b land on the same slot, hence the same shard).
 *   shard = slot mod S.
 * Check value: CRC16("123456789") = 0x31C3.
 */

const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 8;
  for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  TABLE[i] = c;
}

export function crc16(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ buf[i]) & 0xff];
  return crc;
}

export const SLOTS = 16384;

/** Slot of the key stored at buf[start..end). Allocation-free (runs per command on the main thread). */
export function keySlot(buf: Uint8Array, start = 0, end = buf.length): number {
  let open = -1;
  for (let i = start; i < end; i++) if (buf[i] === 0x7b /* { */) { open = i; break; }
  if (open >= 0) {
    for (let j = open + 1; j < end; j++) {
      if (buf[j] === 0x7d /* } */) {
        if (j > open + 1) return crc16(buf, open + 1, j) & (SLOTS - 1);
        break;
      }
    }
  }
  return crc16(buf, start, end) & (SLOTS - 1);
}

export function shardOfSlot(slot: number, shards: number): number {
  return slot % shards;
}

export function shardOfKey(key: Uint8Array, shards: number, start = 0, end = key.length): number {
  return keySlot(key, start, end) % shards;
}
