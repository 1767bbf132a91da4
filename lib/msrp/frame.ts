// MSRP framing (RFC 4975 7, 8, 9) over a TCP byte stream.
//
// A frame ends at its end-line, `-------<transaction id><flag>`, not at a
// length, so the body is found by searching bytes for "\r\n-------<tid>": a
// byte search keeps binary and UTF-8 bodies intact whatever way TCP splits
// them. The header section is text and is decoded line by line.
import {
  formatByteRange,
  formatStatus,
  parseByteRange,
  parseStatus,
  reasonPhrase,
} from './fields';
import type { ByteRange, FailureReport, MsrpStatus, SuccessReport } from './fields';

/** `$` the message ends here, `+` more chunks follow, `#` the sender aborted the message. */
export type EndFlag = '$' | '+' | '#';

export interface MsrpHeader {
  name: string;
  value: string;
}

/** What requests and responses share: the typed headers, and every header line as received. */
export interface MsrpFields {
  transactionId: string;
  toPath: string[];
  fromPath: string[];
  messageId?: string;
  byteRange?: ByteRange;
  successReport?: SuccessReport;
  failureReport?: FailureReport;
  status?: MsrpStatus;
  contentType?: string;
  headers: MsrpHeader[];
  flag: EndFlag;
}

export interface MsrpRequest extends MsrpFields {
  kind: 'request';
  method: string; // SEND, REPORT, or a method we do not know
  body: Buffer;
}

export interface MsrpResponse extends MsrpFields {
  kind: 'response';
  code: number;
  comment?: string;
}

export type MsrpFrame = MsrpRequest | MsrpResponse;

export interface FrameLimits {
  /** Longest header section (start line to the blank line or end-line). */
  maxHeaderBytes: number;
  /** Largest body of one frame: the biggest chunk we take. */
  maxBodyBytes: number;
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = { maxHeaderBytes: 16 * 1024, maxBodyBytes: 1024 * 1024 };

/**
 * A frame we cannot take. With a transaction id and paths the session can
 * answer it (`status`); `fatal` means the stream cannot be followed any more
 * (no start line to find the end-line by) and the connection must go.
 */
export class MsrpFrameError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 413,
    readonly fatal: boolean,
    readonly transactionId?: string,
    readonly method?: string,
    readonly toPath?: string[],
    readonly fromPath?: string[],
  ) {
    super(message);
    this.name = 'MsrpFrameError';
  }
}

export type ParseEvent = { kind: 'frame'; frame: MsrpFrame } | { kind: 'error'; error: MsrpFrameError };

const DASHES = '-------';
// transact-id = ident = ALPHANUM 3*31ident-char; method = 1*UPALPHA
const START_LINE = /^MSRP ([A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}) (?:([A-Z]+)|(\d{3})(?: (.*))?)$/;
const HEADER_NAME = /^[A-Za-z0-9][A-Za-z0-9\-_.!%*+`'~]*$/;

const TRANSACTION_ID = /^[A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}$/;
const METHOD = /^[A-Z]+$/;

type State = 'start' | 'headers' | 'body' | 'skip';

interface Pending {
  transactionId: string;
  method?: string;
  code?: number;
  comment?: string;
  headers: MsrpHeader[];
  endPattern: Buffer; // "\r\n-------<tid>"
}

/**
 * Where the CRLF that ends the line from `from` is, or -1. A loop here, not
 * Buffer.indexOf: start and header lines are short, and the native call costs
 * more than the scan (it was the parser's largest cost, seven calls a frame).
 */
function lineEnd(buf: Buffer, from: number): number {
  const last = buf.length - 1;
  for (let i = from; i < last; i++) {
    if (buf[i] === 0x0d && buf[i + 1] === 0x0a) return i;
  }
  return -1;
}

function isFlag(byte: number): boolean {
  return byte === 0x24 || byte === 0x2b || byte === 0x23; // $ + #
}

/** Feed TCP chunks in, take complete frames (and refusals) out. */
export class MsrpFrameParser {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private state: State = 'start';
  private pending: Pending | undefined;
  private sectionStart = 0; // where the header section or the body began
  private scanFrom = 0; // bytes before this were searched for the end-line already

  constructor(readonly limits: FrameLimits = DEFAULT_FRAME_LIMITS) {}

  /** Bytes held for frames not yet complete. */
  get bufferedBytes(): number {
    return this.buf.length - this.pos;
  }

  push(chunk: Buffer): ParseEvent[] {
    this.append(chunk);
    const out: ParseEvent[] = [];
    for (;;) {
      const progressed =
        this.state === 'start'
          ? this.readStartLine(out)
          : this.state === 'headers'
            ? this.readHeaderLine(out)
            : this.readToEndLine(out);
      if (!progressed) return out;
    }
  }

  private append(chunk: Buffer): void {
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
    }
    this.sectionStart -= this.pos;
    this.scanFrom -= this.pos;
    this.pos = 0;
  }

  private readStartLine(out: ParseEvent[]): boolean {
    const eol = lineEnd(this.buf, this.pos);
    if (eol < 0) {
      if (this.buf.length - this.pos > this.limits.maxHeaderBytes) {
        out.push({ kind: 'error', error: new MsrpFrameError('MSRP start line too long', 400, true) });
        this.pos = this.buf.length;
      }
      return false;
    }
    const line = this.buf.toString('latin1', this.pos, eol);
    this.sectionStart = this.pos;
    this.pos = eol + 2;
    if (line === '') return true; // stray CRLF between frames: tolerated
    const m = START_LINE.exec(line);
    if (!m) {
      out.push({
        kind: 'error',
        error: new MsrpFrameError(`not an MSRP start line: ${JSON.stringify(line.slice(0, 80))}`, 400, true),
      });
      this.pos = this.buf.length;
      return false;
    }
    const transactionId = m[1];
    this.pending = {
      transactionId,
      method: m[2],
      code: m[3] !== undefined ? Number(m[3]) : undefined,
      comment: m[4],
      headers: [],
      endPattern: Buffer.from(`\r\n${DASHES}${transactionId}`, 'latin1'),
    };
    this.state = 'headers';
    return true;
  }

  private readHeaderLine(out: ParseEvent[]): boolean {
    const p = this.pending!;
    const eol = lineEnd(this.buf, this.pos);
    if (eol < 0) {
      if (this.buf.length - this.sectionStart > this.limits.maxHeaderBytes) {
        this.refuse(out, `MSRP header section over ${this.limits.maxHeaderBytes} bytes`, 400, this.pos - 2);
        return true;
      }
      return false;
    }
    if (eol - this.sectionStart > this.limits.maxHeaderBytes) {
      this.refuse(out, `MSRP header section over ${this.limits.maxHeaderBytes} bytes`, 400, this.pos - 2);
      return true;
    }
    const line = this.buf.toString('utf8', this.pos, eol);
    const lineStart = this.pos;
    this.pos = eol + 2;
    const endLine = DASHES + p.transactionId;
    if (line.length === endLine.length + 1 && line.startsWith(endLine)) {
      const flag = line[line.length - 1];
      if (!isFlag(flag.charCodeAt(0))) {
        this.refuse(out, `bad end-line flag "${flag}"`, 400, lineStart - 2);
        return true;
      }
      this.finish(out, Buffer.alloc(0), flag as EndFlag);
      return true;
    }
    if (line === '') {
      this.state = 'body';
      this.sectionStart = this.pos;
      this.scanFrom = this.pos;
      return true;
    }
    const h = headerOf(line);
    if (!h) {
      this.refuse(out, `malformed MSRP header line: ${JSON.stringify(line.slice(0, 80))}`, 400, lineStart - 2);
      return true;
    }
    p.headers.push(h);
    return true;
  }

  /** Body (or skipped bytes) up to the end-line; a match not followed by a flag and CRLF is body data. */
  private readToEndLine(out: ParseEvent[]): boolean {
    const p = this.pending!;
    const pattern = p.endPattern;
    for (;;) {
      const at = this.buf.indexOf(pattern, Math.max(this.scanFrom, this.sectionStart - 2));
      if (at < 0) {
        this.scanFrom = Math.max(this.sectionStart, this.buf.length - pattern.length + 1);
        if (this.state === 'skip') {
          this.pos = Math.max(this.pos, this.scanFrom);
        } else if (this.buf.length - this.sectionStart > this.limits.maxBodyBytes + pattern.length) {
          this.refuse(out, `MSRP body over ${this.limits.maxBodyBytes} bytes`, 413, this.scanFrom);
          return true;
        }
        return false;
      }
      const tail = at + pattern.length;
      if (this.buf.length < tail + 3) {
        this.scanFrom = at;
        return false;
      }
      if (isFlag(this.buf[tail]) && this.buf[tail + 1] === 0x0d && this.buf[tail + 2] === 0x0a) {
        const flag = String.fromCharCode(this.buf[tail]) as EndFlag;
        this.pos = tail + 3;
        if (this.state === 'skip') {
          this.reset();
        } else {
          if (at - this.sectionStart > this.limits.maxBodyBytes) {
            this.refuse(out, `MSRP body over ${this.limits.maxBodyBytes} bytes`, 413, at);
            this.reset();
            return true;
          }
          // A copy: the frame must not pin the whole TCP chunk in memory.
          this.finish(out, Buffer.from(this.buf.subarray(this.sectionStart, at)), flag);
        }
        return true;
      }
      this.scanFrom = at + 1;
    }
  }

  /** Reports the frame's refusal now and drops its bytes up to its end-line. */
  private refuse(out: ParseEvent[], why: string, status: 400 | 413, from: number): void {
    const p = this.pending!;
    const fields = this.collect(p, false);
    out.push({
      kind: 'error',
      error: new MsrpFrameError(why, status, false, p.transactionId, p.method, fields.toPath, fields.fromPath),
    });
    this.state = 'skip';
    this.sectionStart = Math.max(from, 0) + 2;
    this.scanFrom = Math.max(from, 0);
    this.pos = Math.max(this.pos, Math.max(from, 0));
  }

  private reset(): void {
    this.state = 'start';
    this.pending = undefined;
  }

  private finish(out: ParseEvent[], body: Buffer, flag: EndFlag): void {
    const p = this.pending!;
    this.reset();
    let fields: ReturnType<MsrpFrameParser['collect']>;
    try {
      fields = this.collect(p, true);
    } catch (err) {
      const e = err as Error;
      out.push({
        kind: 'error',
        error: new MsrpFrameError(e.message, 400, false, p.transactionId, p.method, pathOf(p, 'to-path'), pathOf(p, 'from-path')),
      });
      return;
    }
    if (p.method !== undefined) {
      if (body.length > 0 && fields.contentType === undefined) {
        out.push({
          kind: 'error',
          error: new MsrpFrameError('MSRP request with a body but no Content-Type', 400, false, p.transactionId, p.method, fields.toPath, fields.fromPath),
        });
        return;
      }
      out.push({ kind: 'frame', frame: { kind: 'request', method: p.method, body, flag, ...fields } });
    } else {
      out.push({ kind: 'frame', frame: { kind: 'response', code: p.code!, comment: p.comment, flag, ...fields } });
    }
  }

  /** Typed fields from the header lines; `strict` refuses what a frame cannot be taken without. */
  private collect(p: Pending, strict: boolean): Omit<MsrpFields, 'flag'> {
    const f: Omit<MsrpFields, 'flag'> = { transactionId: p.transactionId, toPath: [], fromPath: [], headers: p.headers };
    let haveTo = false;
    let haveFrom = false;
    for (const { name, value } of p.headers) {
      switch (name.toLowerCase()) {
        case 'to-path':
          f.toPath = splitPath(value);
          haveTo = true;
          break;
        case 'from-path':
          f.fromPath = splitPath(value);
          haveFrom = true;
          break;
        case 'message-id':
          f.messageId = value;
          break;
        case 'byte-range': {
          const r = parseByteRange(value);
          if (!r && strict) throw new Error(`bad Byte-Range "${value}"`);
          f.byteRange = r;
          break;
        }
        case 'success-report':
          if (value !== 'yes' && value !== 'no') {
            if (strict) throw new Error(`bad Success-Report "${value}"`);
          } else f.successReport = value;
          break;
        case 'failure-report':
          if (value !== 'yes' && value !== 'no' && value !== 'partial') {
            if (strict) throw new Error(`bad Failure-Report "${value}"`);
          } else f.failureReport = value;
          break;
        case 'status': {
          const s = parseStatus(value);
          if (!s && strict) throw new Error(`bad Status "${value}"`);
          f.status = s;
          break;
        }
        case 'content-type':
          f.contentType = value;
          break;
        default:
          break;
      }
    }
    if (strict && (!haveTo || !haveFrom || f.toPath.length === 0 || f.fromPath.length === 0)) {
      throw new Error('MSRP frame without To-Path and From-Path');
    }
    return f;
  }
}

/** `name: value`, read without a regular expression over the whole line (one per header of every frame). */
function headerOf(line: string): MsrpHeader | undefined {
  const colon = line.indexOf(':');
  if (colon <= 0) return undefined;
  const name = line.slice(0, colon);
  if (!HEADER_NAME.test(name)) return undefined;
  const value = line.slice(colon + 1);
  if (value.includes('\r') || value.includes('\n')) return undefined;
  return { name, value: value.trim() };
}

function splitPath(value: string): string[] {
  // Nearly always one URI: no split needed.
  if (value.length > 0 && !/\s/.test(value)) return [value];
  return value.split(/\s+/).filter((s) => s.length > 0);
}

function pathOf(p: Pending, name: string): string[] | undefined {
  const h = p.headers.find((x) => x.name.toLowerCase() === name);
  return h ? splitPath(h.value) : undefined;
}

/** A request to put on the wire. */
export interface OutgoingRequest {
  transactionId: string;
  method: string;
  toPath: readonly string[];
  fromPath: readonly string[];
  messageId?: string;
  successReport?: SuccessReport;
  failureReport?: FailureReport;
  byteRange?: ByteRange;
  status?: MsrpStatus;
  /** Further headers, written before Content-Type. */
  headers?: MsrpHeader[];
  contentType?: string;
  body?: Buffer;
  flag?: EndFlag;
}

export interface OutgoingResponse {
  transactionId: string;
  code: number;
  comment?: string;
  toPath: readonly string[];
  fromPath: readonly string[];
  headers?: MsrpHeader[];
}

/** Serializes a request; throws when the body holds the end-line (pick another transaction id). */
export function writeRequest(r: OutgoingRequest): Buffer {
  checkTransactionId(r.transactionId);
  if (!METHOD.test(r.method)) throw new Error(`bad MSRP method "${r.method}"`);
  const body = r.body ?? Buffer.alloc(0);
  if (body.length > 0 && !r.contentType) throw new Error('an MSRP request with a body needs a Content-Type');
  if (body.length > 0 && body.includes(DASHES + r.transactionId, 0, 'latin1')) {
    throw new Error(`the body contains the end-line of transaction ${r.transactionId}`);
  }
  let head = `MSRP ${r.transactionId} ${r.method}\r\nTo-Path: ${r.toPath.join(' ')}\r\nFrom-Path: ${r.fromPath.join(' ')}\r\n`;
  if (r.messageId !== undefined) head += `Message-ID: ${r.messageId}\r\n`;
  if (r.successReport !== undefined) head += `Success-Report: ${r.successReport}\r\n`;
  if (r.failureReport !== undefined) head += `Failure-Report: ${r.failureReport}\r\n`;
  if (r.byteRange !== undefined) head += `Byte-Range: ${formatByteRange(r.byteRange)}\r\n`;
  if (r.status !== undefined) head += `Status: ${formatStatus(r.status)}\r\n`;
  for (const h of r.headers ?? []) head += `${checkHeader(h)}\r\n`;
  const end = `${DASHES}${r.transactionId}${r.flag ?? '$'}\r\n`;
  // Content-Type is last before the body (RFC 4975 7.1); a body is set off by a blank line.
  if (r.contentType === undefined) return Buffer.from(head + end, 'utf8');
  head += `Content-Type: ${r.contentType}\r\n\r\n`;
  // One buffer for the whole frame: a SEND is written per message delivered.
  const headBytes = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headBytes + body.length + 2 + end.length);
  out.write(head, 0, 'utf8');
  body.copy(out, headBytes);
  out.write(`\r\n${end}`, headBytes + body.length, 'latin1');
  return out;
}

export function writeResponse(r: OutgoingResponse): Buffer {
  checkTransactionId(r.transactionId);
  if (!Number.isInteger(r.code) || r.code < 100 || r.code > 999) throw new Error(`bad MSRP status code ${r.code}`);
  const comment = r.comment ?? reasonPhrase(r.code);
  let head = `MSRP ${r.transactionId} ${r.code}${comment ? ` ${comment}` : ''}\r\n`;
  head += `To-Path: ${r.toPath.join(' ')}\r\nFrom-Path: ${r.fromPath.join(' ')}\r\n`;
  for (const h of r.headers ?? []) head += `${checkHeader(h)}\r\n`;
  return Buffer.from(`${head}${DASHES}${r.transactionId}$\r\n`, 'utf8');
}

function checkTransactionId(tid: string): void {
  if (!TRANSACTION_ID.test(tid)) throw new Error(`bad MSRP transaction id "${tid}"`);
}

function checkHeader(h: MsrpHeader): string {
  if (!HEADER_NAME.test(h.name) || /[\r\n]/.test(h.value)) {
    throw new Error(`bad MSRP header ${JSON.stringify(h.name)}`);
  }
  return `${h.name}: ${h.value}`;
}
