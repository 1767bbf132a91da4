import assert from 'node:assert/strict';
import { chunkMessage } from '../../lib/msrp/chunker';
import { MsrpFrameParser, writeRequest } from '../../lib/msrp/frame';
import type { MsrpRequest } from '../../lib/msrp/frame';
import { MessageIdMemory, Reassembler } from '../../lib/msrp/reassembly';
import type { IncomingChunk, ReassemblyResult } from '../../lib/msrp/reassembly';

/** A deterministic generator, so a failing order can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** 1 MiB: UTF-8 text with multi-byte characters cut at chunk edges, then every byte value. */
function megabyte(): Buffer {
  const text = Buffer.from('Grüße aus Köln — 你好 — 👋🏽 '.repeat(20_000), 'utf8').subarray(0, 700_000);
  const binary = Buffer.alloc(1024 * 1024 - text.length);
  for (let i = 0; i < binary.length; i++) binary[i] = (i * 31 + 7) & 0xff;
  return Buffer.concat([text, binary]);
}

function asIncoming(messageId: string, c: ReturnType<typeof chunkMessage>[number]): IncomingChunk {
  return { messageId, byteRange: c.byteRange, contentType: 'application/octet-stream', body: c.body, flag: c.flag };
}

function complete(results: ReassemblyResult[]): Array<Extract<ReassemblyResult, { kind: 'complete' }>> {
  return results.filter((r): r is Extract<ReassemblyResult, { kind: 'complete' }> => r.kind === 'complete');
}

describe('MSRP chunking and reassembly', () => {
  const body = megabyte();

  it('cuts 1 MiB into 2048-byte chunks with contiguous Byte-Ranges, only the last ending with $', () => {
    const chunks = chunkMessage(body, 2048);
    assert.equal(chunks.length, Math.ceil(body.length / 2048));
    let next = 1;
    for (const [i, c] of chunks.entries()) {
      assert.equal(c.byteRange.start, next);
      assert.equal(c.byteRange.end, Math.min(next + 2047, body.length));
      assert.equal(c.byteRange.total, body.length);
      assert.equal(c.body.length, c.byteRange.end - c.byteRange.start + 1);
      assert.equal(c.flag, i === chunks.length - 1 ? '$' : '+');
      next = c.byteRange.end + 1;
    }
    assert.equal(next, body.length + 1);
    assert.deepEqual(chunkMessage(Buffer.alloc(0), 2048), [{ byteRange: { start: 1, end: 0, total: 0 }, body: Buffer.alloc(0), flag: '$' }]);
    assert.throws(() => chunkMessage(body, 0), /positive integer/);
  });

  it('puts 1 MiB back together in order, through the framing, split at random TCP sizes', () => {
    const chunks = chunkMessage(body, 2048);
    const wire = Buffer.concat(
      chunks.map((c, i) =>
        writeRequest({
          transactionId: `tx${String(i).padStart(6, '0')}`,
          method: 'SEND',
          toPath: ['msrp://b.example:2855/b1;tcp'],
          fromPath: ['msrp://a.example:2855/a1;tcp'],
          messageId: 'big-one',
          byteRange: c.byteRange,
          contentType: 'application/octet-stream',
          body: c.body,
          flag: c.flag,
        }),
      ),
    );
    const parser = new MsrpFrameParser();
    const r = new Reassembler();
    const results: ReassemblyResult[] = [];
    const rand = prng(7);
    for (let at = 0; at < wire.length; ) {
      const n = 1 + Math.floor(rand() * 9000);
      for (const ev of parser.push(wire.subarray(at, at + n))) {
        if (ev.kind === 'error') assert.fail(ev.error.message);
        const f = ev.frame as MsrpRequest;
        results.push(r.add({ messageId: f.messageId!, byteRange: f.byteRange, contentType: f.contentType, body: f.body, flag: f.flag }));
      }
      at += n;
    }
    const done = complete(results);
    assert.equal(done.length, 1);
    assert.ok(done[0].body.equals(body));
    assert.equal(done[0].contentType, 'application/octet-stream');
    assert.equal(results.length, chunks.length);
    assert.equal(r.bufferedBytes, 0);
  });

  it('puts it back together out of order with duplicates, delivering it exactly once', () => {
    const chunks = chunkMessage(body, 2048);
    const rand = prng(42);
    const order = chunks.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    // Every tenth chunk arrives twice, once before the message is whole.
    const withDuplicates = order.flatMap((i, k) => (k % 10 === 0 ? [i, i] : [i]));
    const r = new Reassembler();
    const results = withDuplicates.map((i) => r.add(asIncoming('shuffled', chunks[i])));
    const done = complete(results);
    assert.equal(done.length, 1);
    assert.ok(done[0].body.equals(body));
    assert.equal(results.indexOf(done[0]), results.length - 1, 'whole only when the last missing chunk came');
    assert.equal(r.bufferedBytes, 0);
    assert.equal(r.add(asIncoming('shuffled', chunks[0])).kind, 'duplicate');
  });

  it('takes a total of * until the last chunk tells it', () => {
    const chunks = chunkMessage(Buffer.from('0123456789abcdef'), 5).map((c) => ({
      ...asIncoming('star', c),
      byteRange: { start: c.byteRange.start, end: '*' as const, total: '*' as const },
    }));
    const r = new Reassembler();
    const results = chunks.map((c) => r.add(c));
    assert.deepEqual(results.slice(0, -1).map((x) => x.kind), ['partial', 'partial', 'partial']);
    const done = complete(results);
    assert.equal(done[0].body.toString(), '0123456789abcdef');
  });

  it('drops an aborted message (#) and frees what it held', () => {
    const r = new Reassembler();
    const chunks = chunkMessage(Buffer.alloc(10_000, 1), 2048);
    r.add(asIncoming('ab', chunks[0]));
    r.add(asIncoming('ab', chunks[1]));
    assert.equal(r.bufferedBytes, 4096);
    assert.deepEqual(r.add({ messageId: 'ab', body: Buffer.alloc(0), flag: '#' }), { kind: 'aborted', messageId: 'ab' });
    assert.equal(r.bufferedBytes, 0);
    assert.equal(r.incompleteMessages, 0);
  });

  it('refuses with 413 what would pass the per-session buffer budget or the message size limit', () => {
    const r = new Reassembler({ maxBufferedBytes: 5000, maxMessageBytes: 1_000_000 });
    const chunks = chunkMessage(Buffer.alloc(20_000, 2), 2048);
    assert.equal(r.add(asIncoming('m', chunks[0])).kind, 'partial');
    assert.equal(r.add(asIncoming('m', chunks[1])).kind, 'partial');
    const refused = r.add(asIncoming('m', chunks[2]));
    assert.equal(refused.kind, 'refused');
    if (refused.kind === 'refused') {
      assert.equal(refused.status, 413);
      assert.match(refused.reason, /5000 bytes held/);
    }
    assert.equal(r.bufferedBytes, 0, 'the refused message no longer holds anything');

    const small = new Reassembler({ maxBufferedBytes: 1_000_000, maxMessageBytes: 10_000 });
    const tooBig = small.add(asIncoming('big', chunks[0]));
    assert.equal(tooBig.kind, 'refused');
    if (tooBig.kind === 'refused') assert.equal(tooBig.status, 413);
    assert.equal(small.add({ messageId: 'one', body: Buffer.alloc(10_001), flag: '$' }).kind, 'refused');
  });

  it('refuses with 400 a chunk longer than its Byte-Range or a total that changes', () => {
    const r = new Reassembler();
    const long = r.add({ messageId: 'x', byteRange: { start: 1, end: 3, total: 10 }, body: Buffer.from('abcdef'), flag: '+' });
    assert.equal(long.kind === 'refused' && long.status, 400);
    r.add({ messageId: 'y', byteRange: { start: 1, end: 3, total: 10 }, body: Buffer.from('abc'), flag: '+' });
    const changed = r.add({ messageId: 'y', byteRange: { start: 4, end: 6, total: 12 }, body: Buffer.from('def'), flag: '+' });
    assert.equal(changed.kind === 'refused' && changed.status, 400);
  });

  it('remembers delivered Message-IDs in a shared memory, forgetting the oldest past its capacity', () => {
    const memory = new MessageIdMemory(2);
    const a = new Reassembler(undefined, memory);
    const b = new Reassembler(undefined, memory);
    assert.equal(a.add({ messageId: 'm1', body: Buffer.from('x'), flag: '$' }).kind, 'complete');
    assert.equal(b.add({ messageId: 'm1', body: Buffer.from('x'), flag: '$' }).kind, 'duplicate', 'a second session sees it too');
    a.add({ messageId: 'm2', body: Buffer.from('x'), flag: '$' });
    a.add({ messageId: 'm3', body: Buffer.from('x'), flag: '$' });
    assert.equal(memory.has('m1'), false);
    assert.equal(memory.has('m3'), true);
  });
});
