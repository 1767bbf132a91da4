// An initial SUBSCRIBE as a trusted core hands it to a server: the watcher
// asserted in P-Asserted-Identity (none when null), and the core's
// Record-Route so that the server's NOTIFYs come back through the core.
import type { SipEndpoint } from '../../lib/sip/endpoint';
import type { SipRequest } from '../../lib/sip/message';

export interface CoreSubscribe {
  aor: string;
  /** Asserted subscriber; default the aor itself; null: no P-Asserted-Identity. */
  watcher?: string | null;
  event: string;
  accept: string;
  expires: number;
  /** Port of the core endpoint, for its Record-Route. */
  corePort: number;
}

export function subscribeThroughCore(from: SipEndpoint, s: CoreSubscribe): SipRequest {
  const watcher = s.watcher === undefined ? s.aor : s.watcher;
  const headers: SipRequest['headers'] = {
    via: [],
    to: { uri: s.aor, params: {} },
    from: { uri: watcher ?? s.aor, params: { tag: from.newTag() } },
    'call-id': from.newCallId(),
    cseq: { seq: 1, method: 'SUBSCRIBE' },
    contact: [{ uri: 'sip:alice-phone@127.0.0.1:5999;transport=tcp', params: {} }],
    'record-route': [{ uri: `sip:127.0.0.1:${s.corePort};transport=tcp;lr`, params: {} }],
    event: s.event,
    accept: s.accept,
    expires: String(s.expires),
  };
  if (watcher !== null) headers['p-asserted-identity'] = `<${watcher}>`;
  return { method: 'SUBSCRIBE', uri: s.aor, version: '2.0', headers };
}
