// Splits a message into SEND-sized chunks (RFC 4975 5.1, 7.1.1): each chunk
// carries its Byte-Range, and only the last one ends with `$`.
import type { ByteRange } from './fields';

export interface Chunk {
  byteRange: ByteRange & { end: number; total: number };
  body: Buffer;
  flag: '$' | '+';
}

/** Chunks of at most `chunkSize` bytes; an empty message is one empty chunk, 1-0/0. */
export function chunkMessage(body: Buffer, chunkSize: number): Chunk[] {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new Error(`chunk size must be a positive integer, got ${chunkSize}`);
  const total = body.length;
  if (total === 0) return [{ byteRange: { start: 1, end: 0, total: 0 }, body, flag: '$' }];
  const chunks: Chunk[] = [];
  for (let offset = 0; offset < total; offset += chunkSize) {
    const end = Math.min(offset + chunkSize, total);
    chunks.push({
      byteRange: { start: offset + 1, end, total },
      body: body.subarray(offset, end),
      flag: end === total ? '$' : '+',
    });
  }
  return chunks;
}
