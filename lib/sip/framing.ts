// Where one SIP message ends (RFC 3261 18.3), for datagrams and for streams.
// Our own framer keeps each message's exact wire text, which users see in
// `msg.sip.raw`, and refuses a message from its head alone: a bad or missing
// Content-Length, a head or body over the limits, a SIP version we do not
// speak. The `sip` package parses only what passes here.

export interface FramerLimits {
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

export const DEFAULT_LIMITS: FramerLimits = { maxHeaderBytes: 16 * 1024, maxBodyBytes: 1024 * 1024 };

/**
 * Why a message is not passed on. The endpoint answers refused requests with
 * `status` when it can read enough of them, and drops refused responses.
 * `fatal`: the stream cannot be followed past this message (close it).
 */
export interface Refusal {
  status: number;
  reason: string;
  fatal: boolean;
}

export type FrameEvent =
  | { kind: 'message'; wire: string }
  | { kind: 'keepalive' } // RFC 5626 4.4.1 double-CRLF ping
  | ({ kind: 'refused'; head: string } & Refusal);

interface HeadReading {
  /** Declared body length; undefined when the head has no Content-Length. */
  length?: number;
  refusal?: Refusal;
}

const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:[ \t]*(.*?)[ \t]*$/gim;
// A length beyond any body limit; longer digit strings are refused before Number() rounds them.
const LENGTH_TEXT = /^\d{1,12}$/;
const START_VERSION = /^(?:\S+ \S+ SIP\/(\S+)|SIP\/(\S+) .*)$/i;

function refuse(status: number, reason: string, fatal: boolean): HeadReading {
  return { refusal: { status, reason, fatal } };
}

/**
 * Reads what the head (start line and headers, without the blank line) says
 * about framing. Every Content-Length must be one and the same decimal number
 * (RFC 3261 20.14 allows nothing else; `-1`, `abc` and `1e30` are errors).
 */
export function readHead(head: string, limits: FramerLimits): HeadReading {
  // 513: RFC 3261 21.5.14 "Message Too Large" is the code for a request whose
  // length (here: its header part) exceeds what the server will process.
  if (head.length > limits.maxHeaderBytes) return refuse(513, 'Message Too Large', true);
  let length: number | undefined;
  CONTENT_LENGTH.lastIndex = 0;
  for (let m = CONTENT_LENGTH.exec(head); m; m = CONTENT_LENGTH.exec(head)) {
    const text = m[1]!;
    if (!LENGTH_TEXT.test(text)) return refuse(400, 'Bad Request (Invalid Content-Length)', true);
    const n = Number(text);
    if (length !== undefined && n !== length) return refuse(400, 'Bad Request (Conflicting Content-Length)', true);
    length = n;
  }
  if (length !== undefined && length > limits.maxBodyBytes) {
    return { length, refusal: { status: 413, reason: 'Request Entity Too Large', fatal: true } };
  }
  const eol = head.indexOf('\r\n');
  const firstLine = eol < 0 ? head : head.slice(0, eol);
  const v = START_VERSION.exec(firstLine);
  const version = v?.[1] ?? v?.[2];
  if (version !== undefined && version !== '2.0') {
    // The framing is still sound: a stream can go on after this message.
    return { length, refusal: { status: 505, reason: 'Version Not Supported', fatal: false } };
  }
  return { length };
}

/** Strips RFC 3261 7.5 leading CRLFs; counts them so a stream can see a keep-alive. */
function leadingCrlf(s: string): number {
  let lead = 0;
  while (s.startsWith('\r\n', lead)) lead += 2;
  return lead;
}

/**
 * One datagram is one message (RFC 3261 18.3): bytes after the declared body
 * are discarded; a datagram that ends before it is an error (a request gets
 * 400, a response is dropped). Without Content-Length the body runs to the end.
 */
export function frameDatagram(wire: string, limits: FramerLimits): FrameEvent {
  const text = wire.slice(leadingCrlf(wire));
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) {
    if (text.length > limits.maxHeaderBytes) return { kind: 'refused', head: text.slice(0, limits.maxHeaderBytes), status: 513, reason: 'Message Too Large', fatal: true };
    return { kind: 'message', wire: text }; // the parser refuses it; the endpoint answers 400 if it can
  }
  const head = text.slice(0, end);
  const { length, refusal } = readHead(head, limits);
  if (refusal) return { kind: 'refused', head, ...refusal };
  if (length === undefined) return { kind: 'message', wire: text };
  const total = end + 4 + length;
  if (text.length < total) return { kind: 'refused', head, status: 400, reason: 'Bad Request (Body Shorter Than Content-Length)', fatal: true };
  return { kind: 'message', wire: text.length === total ? text : text.slice(0, total) };
}

/** Splits a stream (TCP) into messages by Content-Length, which is mandatory there (RFC 3261 18.3). */
export class StreamFramer {
  // Chunks since the last message; joined only to look for a head or to cut a message.
  private parts: string[] = [];
  private size = 0;
  /** Bytes up to the end of the current message, once its head has been read. */
  private need?: number;
  private pending?: Refusal & { head: string };

  constructor(private readonly limits: FramerLimits) {}

  /** Bytes held for a message not yet complete. */
  get buffered(): number {
    return this.size;
  }

  /** Feeds latin1 text; returns the complete frames now available. After a fatal refusal, stop feeding. */
  push(chunk: string): FrameEvent[] {
    this.parts.push(chunk);
    this.size += chunk.length;
    const out: FrameEvent[] = [];
    for (;;) {
      if (this.need === undefined) {
        let buf = this.joined();
        const lead = leadingCrlf(buf);
        if (lead >= 4) out.push({ kind: 'keepalive' });
        if (lead) buf = this.keep(buf.slice(lead));
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > this.limits.maxHeaderBytes) {
            out.push({ kind: 'refused', head: buf.slice(0, this.limits.maxHeaderBytes), status: 513, reason: 'Message Too Large', fatal: true });
            this.keep('');
          }
          return out;
        }
        const head = buf.slice(0, end);
        const { length, refusal } = readHead(head, this.limits);
        if (refusal?.fatal) {
          out.push({ kind: 'refused', head, ...refusal });
          this.keep('');
          return out;
        }
        if (length === undefined) {
          // Taking it as length 0 would make its body the next message.
          out.push({ kind: 'refused', head, status: 400, reason: 'Bad Request (Missing Content-Length)', fatal: true });
          this.keep('');
          return out;
        }
        this.need = end + 4 + length;
        this.pending = refusal && { head, ...refusal };
      }
      if (this.size < this.need) return out;
      const buf = this.joined();
      const wire = buf.slice(0, this.need);
      this.keep(buf.slice(this.need));
      this.need = undefined;
      if (this.pending) out.push({ kind: 'refused', ...this.pending });
      else out.push({ kind: 'message', wire });
      this.pending = undefined;
    }
  }

  private joined(): string {
    if (this.parts.length > 1) this.parts = [this.parts.join('')];
    return this.parts[0] ?? '';
  }

  private keep(rest: string): string {
    this.parts = rest ? [rest] : [];
    this.size = rest.length;
    return rest;
  }
}
