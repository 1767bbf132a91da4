// Splits a stream (TCP) into SIP messages by Content-Length (RFC 3261 18.3).
// Our own framer keeps each message's exact wire text, which users see in
// `msg.sip.raw`, and lets us refuse oversized messages before buffering them.

export interface FramerLimits {
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

export type FrameEvent =
  | { kind: 'message'; wire: string }
  | { kind: 'keepalive' } // RFC 5626 4.4.1 double-CRLF ping
  | { kind: 'oversized'; head: string; declared: number };

const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)/im;

export class StreamFramer {
  private buf = '';

  constructor(private readonly limits: FramerLimits) {}

  /** Feeds latin1 text; returns the complete frames now available. */
  push(chunk: string): FrameEvent[] {
    this.buf += chunk;
    const out: FrameEvent[] = [];
    for (;;) {
      let lead = 0;
      while (this.buf.startsWith('\r\n', lead)) lead += 2;
      if (lead >= 4) out.push({ kind: 'keepalive' });
      if (lead) this.buf = this.buf.slice(lead);

      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buf.length > this.limits.maxHeaderBytes) {
          out.push({ kind: 'oversized', head: this.buf.slice(0, this.limits.maxHeaderBytes), declared: -1 });
          this.buf = '';
        }
        return out;
      }
      const head = this.buf.slice(0, end);
      const m = CONTENT_LENGTH.exec(head);
      const length = m ? Number(m[1]) : 0;
      if (length > this.limits.maxBodyBytes || end > this.limits.maxHeaderBytes) {
        out.push({ kind: 'oversized', head, declared: length });
        this.buf = '';
        return out;
      }
      const total = end + 4 + length;
      if (this.buf.length < total) return out;
      out.push({ kind: 'message', wire: this.buf.slice(0, total) });
      this.buf = this.buf.slice(total);
    }
  }
}
