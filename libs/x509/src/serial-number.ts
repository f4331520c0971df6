import { randomFillSync } from 'node:crypto';

const SERIAL_BYTES = 16;
const pool = new Uint8Array(SERIAL_BYTES * 256);
let poolOffset = pool.length;

/**
 * A random positive 128-bit serial number as 16 big-endian bytes (it encodes as an INTEGER of up to
 * 17 bytes, within RFC 5280's 20). Draws from a pre-filled random pool so issuing stays cheap.
 */
export function randomSerialNumber(): Uint8Array {
  for (;;) {
    if (poolOffset === pool.length) {
      randomFillSync(pool);
      poolOffset = 0;
    }
    const serial = pool.slice(poolOffset, poolOffset + SERIAL_BYTES);
    poolOffset += SERIAL_BYTES;
    if (serial.some((byte) => byte !== 0)) return serial;
  }
}

/** Lowercase hex of a serial number's value, without leading zero bytes. */
export function serialNumberToHex(serialNumber: Uint8Array | bigint): string {
  if (typeof serialNumber === 'bigint') return serialNumber.toString(16);
  let start = 0;
  while (start < serialNumber.length - 1 && serialNumber[start] === 0) start++;
  return Buffer.from(serialNumber.buffer, serialNumber.byteOffset + start, serialNumber.length - start).toString('hex');
}
