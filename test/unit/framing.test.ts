// Framing by Content-Length (RFC 3261 18.3) for datagrams and streams, and the
// refusals decided from a message's head alone.
import assert from 'node:assert/strict';
import { DEFAULT_LIMITS, frameDatagram, readHead, StreamFramer, type FrameEvent } from '../../lib/sip/framing';

const HEAD = 'MESSAGE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 MESSAGE';

function refusal(ev: FrameEvent | undefined): { status: number; fatal: boolean } | undefined {
  return ev?.kind === 'refused' ? { status: ev.status, fatal: ev.fatal } : undefined;
}

describe('framing', () => {
  describe('a datagram', () => {
    it('is one message; bytes beyond its Content-Length are discarded', () => {
      const ev = frameDatagram(`${HEAD}\r\nContent-Length: 5\r\n\r\nhelloEXTRA`, DEFAULT_LIMITS);
      assert.deepEqual(ev, { kind: 'message', wire: `${HEAD}\r\nContent-Length: 5\r\n\r\nhello` });
    });

    it('without Content-Length has the rest of the datagram as its body', () => {
      const ev = frameDatagram(`${HEAD}\r\n\r\nbody`, DEFAULT_LIMITS);
      assert.deepEqual(ev, { kind: 'message', wire: `${HEAD}\r\n\r\nbody` });
    });

    it('shorter than its Content-Length is refused, never passed on with the body cut', () => {
      const ev = frameDatagram(`${HEAD}\r\nContent-Length: 50\r\n\r\nhello`, DEFAULT_LIMITS);
      assert.equal(ev.kind, 'refused');
      assert.equal(refusal(ev)?.status, 400);
    });

    for (const bad of ['-1', 'abc', '1e30', '5 5', '', '99999999999999999999']) {
      it(`with Content-Length "${bad}" is refused with 400`, () => {
        const ev = frameDatagram(`${HEAD}\r\nContent-Length: ${bad}\r\n\r\nhello`, DEFAULT_LIMITS);
        assert.equal(refusal(ev)?.status, 400);
      });
    }

    it('with two different Content-Length values (one compact) is refused with 400', () => {
      const ev = frameDatagram(`${HEAD}\r\nContent-Length: 5\r\nl: 3\r\n\r\nhello`, DEFAULT_LIMITS);
      assert.equal(refusal(ev)?.status, 400);
    });

    it('of another SIP version is refused with 505', () => {
      const ev = frameDatagram(`${HEAD.replace('SIP/2.0\r\n', 'SIP/3.0\r\n')}\r\nContent-Length: 0\r\n\r\n`, DEFAULT_LIMITS);
      assert.deepEqual(refusal(ev), { status: 505, fatal: false });
    });

    it('with a head over the limit is refused with 513, with or without its blank line', () => {
      const big = `${HEAD}\r\nX-Filler: ${'a'.repeat(20000)}`;
      assert.equal(refusal(frameDatagram(`${big}\r\nContent-Length: 0\r\n\r\n`, DEFAULT_LIMITS))?.status, 513);
      assert.equal(refusal(frameDatagram(big, DEFAULT_LIMITS))?.status, 513);
    });

    it('with a body over the limit is refused with 413', () => {
      const ev = frameDatagram(`${HEAD}\r\nContent-Length: 9\r\n\r\n123456789`, { maxHeaderBytes: 1000, maxBodyBytes: 8 });
      assert.equal(refusal(ev)?.status, 413);
    });
  });

  describe('a stream', () => {
    it('is split into messages by Content-Length, across chunks, with keep-alives', () => {
      const f = new StreamFramer(DEFAULT_LIMITS);
      const one = `${HEAD}\r\nContent-Length: 3\r\n\r\nabc`;
      const two = `${HEAD}\r\nl: 0\r\n\r\n`;
      const all = '\r\n\r\n' + one + two;
      const events: FrameEvent[] = [];
      for (let i = 0; i < all.length; i += 7) events.push(...f.push(all.slice(i, i + 7)));
      assert.deepEqual(events, [{ kind: 'keepalive' }, { kind: 'message', wire: one }, { kind: 'message', wire: two }]);
      assert.equal(f.buffered, 0);
    });

    it('refuses a message without Content-Length (mandatory on streams) instead of taking it as length 0', () => {
      const f = new StreamFramer(DEFAULT_LIMITS);
      const events = f.push(`${HEAD}\r\n\r\nINVITE sip:smuggled SIP/2.0\r\nContent-Length: 0\r\n\r\n`);
      assert.equal(events.length, 1, 'the body is not taken for a second message');
      assert.deepEqual(refusal(events[0]), { status: 400, fatal: true });
    });

    for (const bad of ['-1', 'abc', '1e30']) {
      it(`refuses Content-Length "${bad}" and stops`, () => {
        const events = new StreamFramer(DEFAULT_LIMITS).push(`${HEAD}\r\nContent-Length: ${bad}\r\n\r\n`);
        assert.deepEqual(refusal(events[0]), { status: 400, fatal: true });
      });
    }

    it('answers a SIP/3.0 request with 505 and goes on with the next message', () => {
      const f = new StreamFramer(DEFAULT_LIMITS);
      const v3 = `${HEAD.replace('SIP/2.0\r\n', 'SIP/3.0\r\n')}\r\nContent-Length: 2\r\n\r\nhi`;
      const next = `${HEAD}\r\nContent-Length: 0\r\n\r\n`;
      const events = f.push(v3 + next);
      assert.deepEqual(refusal(events[0]), { status: 505, fatal: false });
      assert.deepEqual(events[1], { kind: 'message', wire: next });
    });

    it('counts the bytes of a message still arriving, and refuses a declared body over the limit at once', () => {
      const f = new StreamFramer({ maxHeaderBytes: 1000, maxBodyBytes: 100 });
      assert.deepEqual(f.push(`${HEAD}\r\nContent-Length: 50\r\n\r\n12345`), []);
      assert.equal(f.buffered, `${HEAD}\r\nContent-Length: 50\r\n\r\n12345`.length);
      const g = new StreamFramer({ maxHeaderBytes: 1000, maxBodyBytes: 100 });
      assert.deepEqual(refusal(g.push(`${HEAD}\r\nContent-Length: 1000000\r\n\r\n`)[0]), { status: 413, fatal: true });
    });

    it('refuses a head that grows past the limit without a blank line', () => {
      const f = new StreamFramer({ maxHeaderBytes: 1000, maxBodyBytes: 100 });
      assert.deepEqual(f.push(HEAD), []);
      assert.equal(refusal(f.push('\r\nX: ' + 'a'.repeat(2000))[0])?.status, 513);
    });
  });

  it('reads the declared length of a head', () => {
    assert.deepEqual(readHead(`${HEAD}\r\ncontent-length :  12`, DEFAULT_LIMITS), { length: 12 });
    assert.deepEqual(readHead(HEAD, DEFAULT_LIMITS), { length: undefined });
  });
});
