// Building responses and locally generated final responses for requests.
import type { NameAddr, SipHeaders, SipRequest, SipResponse } from './message';

export const REASONS: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 183: 'Session Progress',
  200: 'OK', 202: 'Accepted', 204: 'No Notification',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 407: 'Proxy Authentication Required', 408: 'Request Timeout',
  412: 'Conditional Request Failed', 413: 'Request Entity Too Large', 415: 'Unsupported Media Type',
  420: 'Bad Extension', 423: 'Interval Too Brief', 480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist', 482: 'Loop Detected', 483: 'Too Many Hops', 486: 'Busy Here',
  487: 'Request Terminated', 488: 'Not Acceptable Here', 489: 'Bad Event', 491: 'Request Pending',
  500: 'Server Internal Error', 501: 'Not Implemented', 503: 'Service Unavailable', 504: 'Server Time-out',
  603: 'Decline',
};

export interface ResponseOptions {
  reason?: string;
  headers?: SipHeaders;
  body?: string;
  contentType?: string;
  /** To tag added when the request's To has none (RFC 3261 8.2.6.2). */
  toTag?: string;
}

export function makeResponse(req: SipRequest, status: number, opts: ResponseOptions = {}): SipResponse {
  let to: NameAddr = req.headers.to;
  if (opts.toTag && status > 100 && !to.params.tag) {
    to = { ...to, params: { ...to.params, tag: opts.toTag } };
  }
  const headers: SipResponse['headers'] = {
    via: req.headers.via,
    to,
    from: req.headers.from,
    'call-id': req.headers['call-id'],
    cseq: req.headers.cseq,
  };
  if (opts.headers) Object.assign(headers, opts.headers);
  if (opts.body !== undefined && opts.body !== '') {
    headers['content-type'] = opts.contentType ?? String(headers['content-type'] ?? 'text/plain');
  }
  return {
    status,
    reason: opts.reason ?? REASONS[status] ?? '',
    version: '2.0',
    headers,
    content: opts.body ?? '',
  };
}
