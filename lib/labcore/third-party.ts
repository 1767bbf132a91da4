// Third-party REGISTER from the core to the application server (3GPP TS
// 24.229 5.4.1.7, seed 002 step 5, seed 003 5.3): sent for users whose
// bindings carry the server's feature tag, on registration, refresh,
// de-registration (including dropping the tag) and expiry. The client's
// REGISTER goes along as a message/sip body, as an S-CSCF does for filter
// criteria with IncludeRegisterRequest, so the server sees the client's own
// Contact and feature tags.
import { encode, wireToText } from '../sip/codec';
import type { IncomingRequest } from '../sip/endpoint';
import type { SipRequest } from '../sip/message';
import type { UserAgent } from '../sip/user-agent';
import type { Scheduler } from '../util/scheduler';
import type { BindingEvent, LocationService } from './location';

export interface ThirdPartyOptions {
  /** SIP URI of the application server, e.g. `sip:127.0.0.1:5070`. */
  serverUri: string;
  /** Feature tags that select bindings for the server (any one is enough). */
  triggerTags: string[];
  /** The core's own URI: From and Contact of the third-party REGISTER (read when sending: the port is known once bound). */
  coreUri: () => string;
  scheduler: Scheduler;
}

export interface ThirdPartyResult {
  aor: string;
  expires: number;
  status: number;
  reason: string;
}

/** Keeps, per user, whether the server believes the user registered. */
export class ThirdPartyRegistrations {
  private readonly serviceRegistered = new Map<string, boolean>();
  private readonly callIds = new Map<string, { callId: string; cseq: number }>();
  onResult?: (r: ThirdPartyResult) => void;

  constructor(
    private readonly ua: UserAgent,
    private readonly location: LocationService,
    private readonly o: ThirdPartyOptions,
  ) {}

  /** True when one of the binding parameters is a trigger tag (RFC 3840 names compare case-insensitively). */
  carriesTrigger(params: Record<string, unknown>): boolean {
    const names = Object.keys(params).map((n) => n.toLowerCase());
    return this.o.triggerTags.some((t) => names.includes(t.toLowerCase()));
  }

  /** Call with the events of each location change, and the REGISTER that made them (none for expiry). */
  onBindings(aor: string, events: BindingEvent[], register?: IncomingRequest): void {
    const tagged = this.location.lookup(aor).filter((b) => this.carriesTrigger(b.params));
    const was = this.serviceRegistered.get(aor) ?? false;
    if (tagged.length) {
      const now = this.o.scheduler.now();
      const remaining = Math.max(...tagged.map((b) => Math.round((b.expiresAt - now) / 1000)));
      const touched = events.some((e) => this.carriesTrigger(e.binding.params));
      if (!was || touched) this.send(aor, remaining, register);
      this.serviceRegistered.set(aor, true);
    } else if (was) {
      this.send(aor, 0, register);
      this.serviceRegistered.delete(aor);
    }
  }

  private send(aor: string, expires: number, register?: IncomingRequest): void {
    let dialog = this.callIds.get(aor);
    if (!dialog) {
      dialog = { callId: this.ua.newCallId(), cseq: 0 };
      this.callIds.set(aor, dialog);
    }
    dialog.cseq++;
    const req: SipRequest = {
      method: 'REGISTER',
      uri: this.o.serverUri,
      version: '2.0',
      headers: {
        via: [],
        to: { uri: aor, params: {} },
        from: { uri: this.o.coreUri(), params: { tag: this.ua.newTag() } },
        'call-id': dialog.callId,
        cseq: { seq: dialog.cseq, method: 'REGISTER' },
        contact: [{ uri: this.o.coreUri(), params: {} }],
        expires: String(expires),
      },
    };
    if (register) {
      req.headers['content-type'] = 'message/sip';
      req.content = clientRegisterBody(register);
    }
    if (expires === 0) this.callIds.delete(aor);
    this.ua
      .request(req)
      .then((r) => this.onResult?.({ aor, expires, status: r.response.status, reason: r.response.reason }))
      .catch(() => undefined); // a listener's fault must not escape into the host process
  }
}

/** The client's REGISTER without its credentials: the server needs its Contact, not its digest. */
function clientRegisterBody(register: IncomingRequest): string {
  const m = register.message;
  const headers = { ...m.headers };
  delete headers.authorization;
  delete headers['proxy-authorization'];
  return wireToText(encode({ ...m, headers }));
}
