import assert from 'node:assert/strict';
import { MsrpFrameParser, writeRequest, writeResponse } from '../../lib/msrp/frame';
import type { MsrpFrame, MsrpRequest, MsrpResponse, ParseEvent } from '../../lib/msrp/frame';

const ALICE = 'msrp://127.0.0.1:7777/alice123;tcp';
const BOB = 'msrp://bob.example:8888/bob456;tcp';
const TID = 'a786hjs2';

// A body that tries every trap: UTF-8 split points, CR LF, dashes, a fake
// end-line with our transaction id followed by a non-flag byte, and NUL/0xff.
const TRICKY = Buffer.concat([
  Buffer.from('grüße 👋\r\n-------', 'utf8'),
  Buffer.from(`\r\n-------${TID}X\r\n`, 'latin1'),
  Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x2d, 0x2d, 0x0d]),
  Buffer.from('\r\n------- end', 'latin1'),
]);

function sampleStream(): Buffer {
  return Buffer.concat([
    // Written by hand: our writer would refuse a body holding "-------<tid>", a reader must still cope.
    Buffer.from(
      `MSRP ${TID} SEND\r\nTo-Path: ${BOB}\r\nFrom-Path: ${ALICE}\r\nMessage-ID: 87652491\r\nSuccess-Report: yes\r\n` +
        `Failure-Report: partial\r\nByte-Range: 1-${TRICKY.length}/${TRICKY.length}\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    TRICKY,
    Buffer.from(`\r\n-------${TID}$\r\n`),
    writeResponse({ transactionId: 'd93kswow', code: 200, toPath: [ALICE], fromPath: [BOB] }),
    writeRequest({
      transactionId: 'dkei38sd',
      method: 'REPORT',
      toPath: [ALICE],
      fromPath: [BOB],
      messageId: '12339sdqwer',
      byteRange: { start: 1, end: 106, total: 106 },
      status: { namespace: 0, code: 200, comment: 'OK' },
    }),
    writeRequest({ transactionId: 'emptyone', method: 'SEND', toPath: [BOB], fromPath: [ALICE], messageId: 'm0', byteRange: { start: 1, end: 0, total: 0 } }),
    writeRequest({
      transactionId: 'contin01',
      method: 'SEND',
      toPath: [BOB],
      fromPath: [ALICE],
      messageId: 'm1',
      byteRange: { start: 1, end: '*', total: '*' },
      contentType: 'text/plain',
      body: Buffer.from('first part ', 'utf8'),
      flag: '+',
    }),
    writeRequest({ transactionId: 'abort001', method: 'SEND', toPath: [BOB], fromPath: [ALICE], messageId: 'm1', contentType: 'text/plain', body: Buffer.from('x'), flag: '#' }),
    writeRequest({ transactionId: 'unknown1', method: 'NICKNAME', toPath: [BOB], fromPath: [ALICE], headers: [{ name: 'Use-Nickname', value: '"Alice"' }] }),
  ]);
}

/** Frames as comparable plain data, bodies as hex. */
function plain(events: ParseEvent[]): unknown[] {
  return events.map((e) => {
    if (e.kind === 'error') return { error: e.error.message };
    const f = e.frame as MsrpFrame & { body?: Buffer };
    return { ...f, body: f.body?.toString('hex') };
  });
}

function frames(events: ParseEvent[]): MsrpFrame[] {
  return events.map((e) => {
    if (e.kind === 'error') assert.fail(`unexpected error: ${e.error.message}`);
    return e.frame;
  });
}

describe('MSRP framing', () => {
  it('reads requests, responses, reports, unknown methods and every end-line flag from one stream', () => {
    const got = frames(new MsrpFrameParser().push(sampleStream()));
    assert.equal(got.length, 7);
    const send = got[0] as MsrpRequest;
    assert.equal(send.kind, 'request');
    assert.equal(send.method, 'SEND');
    assert.equal(send.transactionId, TID);
    assert.deepEqual(send.toPath, [BOB]);
    assert.deepEqual(send.fromPath, [ALICE]);
    assert.equal(send.messageId, '87652491');
    assert.equal(send.successReport, 'yes');
    assert.equal(send.failureReport, 'partial');
    assert.deepEqual(send.byteRange, { start: 1, end: TRICKY.length, total: TRICKY.length });
    assert.equal(send.contentType, 'application/octet-stream');
    assert.ok(send.body.equals(TRICKY), 'the binary body with a fake end-line comes back byte for byte');
    assert.equal(send.flag, '$');

    const ok = got[1] as MsrpResponse;
    assert.equal(ok.kind, 'response');
    assert.equal(ok.code, 200);
    assert.equal(ok.comment, 'OK');
    assert.equal(ok.transactionId, 'd93kswow');

    const report = got[2] as MsrpRequest;
    assert.equal(report.method, 'REPORT');
    assert.deepEqual(report.status, { namespace: 0, code: 200, comment: 'OK' });
    assert.deepEqual(report.byteRange, { start: 1, end: 106, total: 106 });
    assert.equal(report.body.length, 0);

    const empty = got[3] as MsrpRequest;
    assert.equal(empty.body.length, 0);
    assert.equal(empty.contentType, undefined);
    assert.deepEqual(empty.byteRange, { start: 1, end: 0, total: 0 });

    assert.equal(got[4].flag, '+');
    assert.deepEqual(got[4].byteRange, { start: 1, end: '*', total: '*' });
    assert.equal((got[4] as MsrpRequest).body.toString(), 'first part ');
    assert.equal(got[5].flag, '#');

    const unknown = got[6] as MsrpRequest;
    assert.equal(unknown.method, 'NICKNAME');
    assert.deepEqual(unknown.headers.find((h) => h.name === 'Use-Nickname'), { name: 'Use-Nickname', value: '"Alice"' });
  });

  it('gives the same frames however the stream is split: at every byte into two, and byte by byte', () => {
    const stream = sampleStream();
    const whole = plain(new MsrpFrameParser().push(stream));
    for (let cut = 0; cut <= stream.length; cut++) {
      const p = new MsrpFrameParser();
      const events = [...p.push(stream.subarray(0, cut)), ...p.push(stream.subarray(cut))];
      assert.deepEqual(plain(events), whole, `split at byte ${cut}`);
      assert.equal(p.bufferedBytes, 0);
    }
    const p = new MsrpFrameParser();
    const events: ParseEvent[] = [];
    for (let i = 0; i < stream.length; i++) events.push(...p.push(stream.subarray(i, i + 1)));
    assert.deepEqual(plain(events), whole);
  });

  it('reads the example SEND of RFC 4975 section 4 as written there', () => {
    const text =
      'MSRP a786hjs2 SEND\r\n' +
      'To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n' +
      'From-Path: msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n' +
      'Message-ID: 87652491\r\n' +
      'Byte-Range: 1-25/25\r\n' +
      'Content-Type: text/plain\r\n' +
      '\r\n' +
      'Hey Bob, are you there?\r\n' +
      '-------a786hjs2$\r\n';
    const [f] = frames(new MsrpFrameParser().push(Buffer.from(text)));
    assert.equal((f as MsrpRequest).body.toString(), 'Hey Bob, are you there?');
    assert.deepEqual(f.toPath, ['msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp']);
  });

  it('refuses a malformed header with 400, naming the transaction and paths, and reads on', () => {
    const bad =
      `MSRP badhdr01 SEND\r\nTo-Path: ${BOB}\r\nFrom-Path: ${ALICE}\r\nMessage-ID: x\r\nthis is not a header\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------badhdr01$\r\n`;
    const good = writeRequest({ transactionId: 'good0001', method: 'SEND', toPath: [BOB], fromPath: [ALICE], messageId: 'y', contentType: 'text/plain', body: Buffer.from('ok') });
    const events = new MsrpFrameParser().push(Buffer.concat([Buffer.from(bad), good]));
    assert.equal(events.length, 2);
    assert.equal(events[0].kind, 'error');
    if (events[0].kind !== 'error') return;
    assert.equal(events[0].error.status, 400);
    assert.equal(events[0].error.fatal, false);
    assert.equal(events[0].error.transactionId, 'badhdr01');
    assert.equal(events[0].error.method, 'SEND');
    assert.deepEqual(events[0].error.fromPath, [ALICE]);
    assert.deepEqual(events[0].error.toPath, [BOB]);
    assert.equal(frames([events[1]])[0].transactionId, 'good0001');
  });

  it('reads header values trimmed (tabs too) and paths of several hops; refuses a bad header name or a line break inside a value', () => {
    const relay = 'msrp://relay.example:2855/r1;tcp';
    const ok = `MSRP spaced01 SEND\r\nTo-Path:\t ${BOB} \r\nFrom-Path: ${ALICE}\t${relay}\r\nMessage-ID:x1\r\n-------spaced01$\r\n`;
    const [frame] = frames(new MsrpFrameParser().push(Buffer.from(ok)));
    assert.deepEqual(frame.toPath, [BOB]);
    assert.deepEqual(frame.fromPath, [ALICE, relay]);
    assert.equal(frame.messageId, 'x1');
    for (const line of ['Bad Name: x', ':no name', 'Message-ID: a\rb', 'Message-ID: a\nb', 'No-Colon']) {
      const text = `MSRP badhdr02 SEND\r\nTo-Path: ${BOB}\r\nFrom-Path: ${ALICE}\r\n${line}\r\n-------badhdr02$\r\n`;
      const [ev] = new MsrpFrameParser().push(Buffer.from(text));
      assert.ok(ev && ev.kind === 'error' && ev.error.status === 400 && /malformed MSRP header line/.test(ev.error.message), line);
    }
  });

  it('refuses a bad Byte-Range, a body without Content-Type and missing paths with 400', () => {
    const cases = [
      `MSRP brange01 SEND\r\nTo-Path: ${BOB}\r\nFrom-Path: ${ALICE}\r\nMessage-ID: x\r\nByte-Range: 5-2/10\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------brange01$\r\n`,
      `MSRP noctype1 SEND\r\nTo-Path: ${BOB}\r\nFrom-Path: ${ALICE}\r\nMessage-ID: x\r\n\r\nhi\r\n-------noctype1$\r\n`,
      `MSRP nopaths1 SEND\r\nMessage-ID: x\r\n-------nopaths1$\r\n`,
    ];
    for (const text of cases) {
      const events = new MsrpFrameParser().push(Buffer.from(text));
      assert.equal(events.length, 1, text);
      assert.equal(events[0].kind, 'error', text);
      if (events[0].kind === 'error') {
        assert.equal(events[0].error.status, 400);
        assert.equal(events[0].error.fatal, false);
      }
    }
  });

  it('calls a stream without an MSRP start line fatal', () => {
    const events = new MsrpFrameParser().push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.equal(events[0].kind, 'error');
    if (events[0].kind === 'error') assert.equal(events[0].error.fatal, true);
  });

  it('refuses a body over the chunk limit with 413 without holding it, then reads the next frame', () => {
    const p = new MsrpFrameParser({ maxHeaderBytes: 4096, maxBodyBytes: 1000 });
    const big = writeRequest({ transactionId: 'toobig01', method: 'SEND', toPath: [BOB], fromPath: [ALICE], messageId: 'big', contentType: 'application/octet-stream', body: Buffer.alloc(50_000, 0x41) });
    const next = writeRequest({ transactionId: 'after001', method: 'SEND', toPath: [BOB], fromPath: [ALICE], messageId: 'n', contentType: 'text/plain', body: Buffer.from('next') });
    const events: ParseEvent[] = [];
    let maxHeld = 0;
    const stream = Buffer.concat([big, next]);
    for (let i = 0; i < stream.length; i += 700) {
      events.push(...p.push(stream.subarray(i, i + 700)));
      maxHeld = Math.max(maxHeld, p.bufferedBytes);
    }
    assert.equal(events.length, 2);
    assert.equal(events[0].kind, 'error');
    if (events[0].kind === 'error') {
      assert.equal(events[0].error.status, 413);
      assert.equal(events[0].error.transactionId, 'toobig01');
    }
    assert.equal((frames([events[1]])[0] as MsrpRequest).body.toString(), 'next');
    assert.ok(maxHeld < 3000, `held at most ${maxHeld} bytes of a 50 kB body`);
  });

  it('refuses a header section over its limit', () => {
    const p = new MsrpFrameParser({ maxHeaderBytes: 256, maxBodyBytes: 1000 });
    const long = `MSRP longhdr1 SEND\r\nTo-Path: ${BOB}\r\nFrom-Path: ${ALICE}\r\nX-Pad: ${'p'.repeat(400)}\r\n-------longhdr1$\r\n`;
    const events = p.push(Buffer.from(long));
    assert.equal(events.length, 1);
    assert.equal(events[0].kind, 'error');
    if (events[0].kind === 'error') assert.match(events[0].error.message, /header section over 256 bytes/);
  });

  it('writes what it reads, and will not write a body that holds its own end-line', () => {
    const body = Buffer.from('plain text ✓', 'utf8');
    const wire = writeRequest({ transactionId: 'round001', method: 'SEND', toPath: [BOB, ALICE], fromPath: [ALICE], messageId: 'r', contentType: 'text/plain;charset=utf-8', body, flag: '+' });
    const [f] = frames(new MsrpFrameParser().push(wire)) as MsrpRequest[];
    assert.deepEqual(f.toPath, [BOB, ALICE]);
    assert.ok(f.body.equals(body));
    assert.equal(f.contentType, 'text/plain;charset=utf-8');
    assert.equal(f.flag, '+');
    assert.throws(
      () => writeRequest({ transactionId: 'clash001', method: 'SEND', toPath: [BOB], fromPath: [ALICE], messageId: 'c', contentType: 'text/plain', body: Buffer.from('a\r\n-------clash001$\r\n') }),
      /end-line/,
    );
    const res = writeResponse({ transactionId: 'resp0001', code: 481, toPath: [ALICE], fromPath: [BOB] }).toString();
    assert.equal(res, `MSRP resp0001 481 Session Does Not Exist\r\nTo-Path: ${ALICE}\r\nFrom-Path: ${BOB}\r\n-------resp0001$\r\n`);
  });
});
