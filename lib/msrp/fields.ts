// Typed MSRP header values (RFC 4975 9): Byte-Range, Status, report flags,
// and the reason phrases we put on the responses we send.

/** 1-based inclusive range; `'*'` where the sender did not know the end or the total. */
export interface ByteRange {
  start: number;
  end: number | '*';
  total: number | '*';
}

/** Status header: namespace 000 is the transaction response namespace. */
export interface MsrpStatus {
  namespace: number;
  code: number;
  comment?: string;
}

export type SuccessReport = 'yes' | 'no';
export type FailureReport = 'yes' | 'no' | 'partial';

const BYTE_RANGE = /^(\d{1,15})-(\d{1,15}|\*)\/(\d{1,15}|\*)$/;
const STATUS = /^(\d{3}) (\d{3})(?: (.*))?$/;

export function parseByteRange(value: string): ByteRange | undefined {
  const m = BYTE_RANGE.exec(value.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] === '*' ? '*' : Number(m[2]);
  const total = m[3] === '*' ? '*' : Number(m[3]);
  if (start < 1) return undefined;
  // An empty message is 1-0/0; otherwise the end is not before the start.
  if (end !== '*' && end < start - 1) return undefined;
  if (total !== '*' && end !== '*' && end > total) return undefined;
  return { start, end, total };
}

export function formatByteRange(r: ByteRange): string {
  return `${r.start}-${r.end}/${r.total}`;
}

export function parseStatus(value: string): MsrpStatus | undefined {
  const m = STATUS.exec(value.trim());
  if (!m) return undefined;
  return { namespace: Number(m[1]), code: Number(m[2]), comment: m[3] };
}

export function formatStatus(s: MsrpStatus): string {
  const ns = String(s.namespace).padStart(3, '0');
  return `${ns} ${s.code}${s.comment ? ` ${s.comment}` : ''}`;
}

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  408: 'Request Timeout',
  413: 'Message Too Large',
  415: 'Unsupported Media Type',
  423: 'Parameter Out Of Bounds',
  481: 'Session Does Not Exist',
  501: 'Unknown Method',
  506: 'Session Already Bound',
};

export function reasonPhrase(code: number): string | undefined {
  return REASONS[code];
}
