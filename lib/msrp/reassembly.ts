// Puts chunked messages back together by Message-ID (RFC 4975 7.3.1): chunks
// may come out of order (through relays) or twice, the total may be `*` until
// the last chunk, and `#` abandons a message. Every byte held waiting for
// the rest of its message counts against one budget per session.
import type { ByteRange } from './fields';
import type { EndFlag } from './frame';

export interface ReassemblyLimits {
  /** Bytes held for incomplete messages, all messages together. */
  maxBufferedBytes: number;
  /** Largest message taken. */
  maxMessageBytes: number;
}

export const DEFAULT_REASSEMBLY_LIMITS: ReassemblyLimits = {
  maxBufferedBytes: 16 * 1024 * 1024,
  maxMessageBytes: 8 * 1024 * 1024,
};

export interface IncomingChunk {
  messageId: string;
  byteRange?: ByteRange;
  contentType?: string;
  body: Buffer;
  flag: EndFlag;
}

export type ReassemblyResult =
  | { kind: 'complete'; messageId: string; contentType?: string; body: Buffer }
  | { kind: 'partial'; messageId: string; received: number; total?: number }
  | { kind: 'duplicate'; messageId: string; total: number }
  | { kind: 'aborted'; messageId: string }
  | { kind: 'refused'; messageId: string; status: 400 | 413; reason: string };

/**
 * Message-IDs of messages already delivered, the oldest forgotten first.
 * Share one between sessions to drop a message delivered again in a new session.
 */
export class MessageIdMemory {
  private readonly ids = new Map<string, number>();

  constructor(readonly capacity = 50_000) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  total(id: string): number | undefined {
    return this.ids.get(id);
  }

  /** A message refused after all: it was not delivered. */
  forget(id: string): void {
    this.ids.delete(id);
  }

  add(id: string, total: number): void {
    this.ids.delete(id);
    this.ids.set(id, total);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.keys().next().value as string;
      this.ids.delete(oldest);
    }
  }
}

interface Piece {
  start: number; // 1-based
  data: Buffer;
}

interface Partial {
  pieces: Piece[];
  covered: Array<[number, number]>; // merged, sorted, inclusive
  total?: number;
  contentType?: string;
  bytes: number;
}

export class Reassembler {
  private readonly partials = new Map<string, Partial>();
  private buffered = 0;

  constructor(
    readonly limits: ReassemblyLimits = DEFAULT_REASSEMBLY_LIMITS,
    readonly delivered: MessageIdMemory = new MessageIdMemory(),
  ) {}

  /** Bytes held for incomplete messages. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  get incompleteMessages(): number {
    return this.partials.size;
  }

  add(chunk: IncomingChunk): ReassemblyResult {
    const { messageId, body, flag } = chunk;
    const seenTotal = this.delivered.total(messageId);
    if (seenTotal !== undefined) return { kind: 'duplicate', messageId, total: seenTotal };
    if (flag === '#') {
      this.discard(messageId);
      return { kind: 'aborted', messageId };
    }
    const range = chunk.byteRange ?? { start: 1, end: body.length, total: flag === '$' ? body.length : '*' };
    const start = range.start;
    const end = start + body.length - 1;
    // A chunk may be cut short (`+`), never longer than its range says.
    if (range.end !== '*' && range.end < end) return this.refuse(messageId, 400, `chunk longer than its Byte-Range ${start}-${range.end}`);
    if (range.end !== '*' && flag === '$' && range.end !== end) {
      return this.refuse(messageId, 400, `last chunk has ${body.length} bytes, Byte-Range says ${range.end - start + 1}`);
    }

    // The fast path: a whole message in one chunk, nothing held.
    if (start === 1 && flag === '$' && (range.total === '*' || range.total === body.length) && !this.partials.has(messageId)) {
      if (body.length > this.limits.maxMessageBytes) return this.refuse(messageId, 413, this.tooLarge(body.length));
      this.delivered.add(messageId, body.length);
      return { kind: 'complete', messageId, contentType: chunk.contentType, body };
    }

    let p = this.partials.get(messageId);
    if (!p) {
      p = { pieces: [], covered: [], bytes: 0 };
      this.partials.set(messageId, p);
    }
    let total = range.total === '*' ? undefined : range.total;
    if (total === undefined && flag === '$') total = end;
    if (total !== undefined) {
      if (p.total !== undefined && p.total !== total) return this.refuse(messageId, 400, `total changed from ${p.total} to ${total}`);
      if (end > total) return this.refuse(messageId, 400, `chunk ends at ${end}, after the total ${total}`);
      p.total = total;
    }
    const size = p.total ?? end;
    if (size > this.limits.maxMessageBytes) return this.refuse(messageId, 413, this.tooLarge(size));
    if (this.buffered + body.length > this.limits.maxBufferedBytes) {
      return this.refuse(messageId, 413, `more than ${this.limits.maxBufferedBytes} bytes held for incomplete messages`);
    }
    if (chunk.contentType !== undefined && p.contentType === undefined) p.contentType = chunk.contentType;
    if (body.length > 0) {
      p.pieces.push({ start, data: body });
      p.bytes += body.length;
      this.buffered += body.length;
      cover(p.covered, start, end);
    }
    if (p.total !== undefined && isWhole(p.covered, p.total)) {
      this.discard(messageId);
      this.delivered.add(messageId, p.total);
      return { kind: 'complete', messageId, contentType: p.contentType, body: assemble(p.pieces, p.total) };
    }
    return { kind: 'partial', messageId, received: coveredBytes(p.covered), total: p.total };
  }

  /** Forgets an incomplete message and frees what it held. */
  discard(messageId: string): void {
    const p = this.partials.get(messageId);
    if (!p) return;
    this.buffered -= p.bytes;
    this.partials.delete(messageId);
  }

  /** Frees everything (the session ended). */
  clear(): void {
    this.partials.clear();
    this.buffered = 0;
  }

  private refuse(messageId: string, status: 400 | 413, reason: string): ReassemblyResult {
    this.discard(messageId);
    return { kind: 'refused', messageId, status, reason };
  }

  private tooLarge(size: number): string {
    return `message of ${size} bytes is over the limit of ${this.limits.maxMessageBytes}`;
  }
}

/** Adds [s, e] to a sorted list of disjoint ranges, merging neighbours. */
function cover(ranges: Array<[number, number]>, s: number, e: number): void {
  let i = 0;
  while (i < ranges.length && ranges[i][1] < s - 1) i++;
  let j = i;
  let lo = s;
  let hi = e;
  while (j < ranges.length && ranges[j][0] <= e + 1) {
    lo = Math.min(lo, ranges[j][0]);
    hi = Math.max(hi, ranges[j][1]);
    j++;
  }
  ranges.splice(i, j - i, [lo, hi]);
}

function isWhole(ranges: Array<[number, number]>, total: number): boolean {
  if (total === 0) return true;
  return ranges.length === 1 && ranges[0][0] === 1 && ranges[0][1] >= total;
}

function coveredBytes(ranges: Array<[number, number]>): number {
  return ranges.reduce((n, [s, e]) => n + e - s + 1, 0);
}

/** Pieces copied in arrival order, so a byte sent again takes its latest value. */
function assemble(pieces: Piece[], total: number): Buffer {
  const out = Buffer.alloc(total);
  for (const { start, data } of pieces) data.copy(out, start - 1);
  return out;
}
