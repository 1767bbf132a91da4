// Two endpoints that call each other with InviteSession, for the session and
// session timer tests: alice (UAC) invites bob, whose handler hands every new
// INVITE to the test as a UAS session.
import assert from 'node:assert/strict';
import { profileFor } from '../../lib/registration/enablers';
import { Registration } from '../../lib/registration/registration';
import type { SipEndpoint } from '../../lib/sip/endpoint';
import { InviteSession, type SessionEvent, type SessionOptions } from '../../lib/sip/invite-session';
import type { SipRequest } from '../../lib/sip/message';
import { Events } from './events';
import type { Closers } from './settings-client';

export const OFFER = 'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 7394 TCP/MSRP *\r\na=sendonly\r\n';
export const ANSWER = 'v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 7395 TCP/MSRP *\r\na=recvonly\r\n';

/** An INVITE from `from` to `to` (an endpoint: its user bob, or a URI), with an SDP offer. */
export function inviteRequest(from: SipEndpoint, to: SipEndpoint | string, fromUri = 'sip:alice@lab.test', body = OFFER): SipRequest {
  const uri = typeof to === 'string' ? to : to.contactUri('bob');
  return {
    method: 'INVITE',
    uri,
    version: '2.0',
    headers: {
      via: [],
      to: { uri, params: {} },
      from: { uri: fromUri, params: {} },
      'call-id': from.newCallId(),
      cseq: { seq: 1, method: 'INVITE' },
      'content-type': 'application/sdp',
    },
    content: body,
  };
}

/** Every session state change of a session, in order. */
export function statesOf(s: InviteSession): Events<SessionEvent> & { seen: SessionEvent[] } {
  const e = new Events<SessionEvent>() as Events<SessionEvent> & { seen: SessionEvent[] };
  e.seen = [];
  s.on('state', (ev: SessionEvent) => {
    e.seen.push(ev);
    e.push(ev);
  });
  return e;
}

/** Hands each out-of-dialog INVITE that reaches `ep` to the test as a UAS session. */
export function answerInvites(ep: SipEndpoint, o: SessionOptions = {}): Events<InviteSession> {
  const got = new Events<InviteSession>();
  ep.addHandler((r) => {
    if (r.message.method !== 'INVITE' || r.message.headers.to.params.tag) return false;
    got.push(InviteSession.answering(ep, r, o));
    return true;
  });
  return got;
}

/** Registers `user` (password `<user>-pw`) of lab.test from `ep` through its outbound proxy; de-registered by `closers`. */
export async function registerUser(ep: SipEndpoint, user: string, closers: Closers): Promise<void> {
  const reg = new Registration(ep, {
    aor: `sip:${user}@lab.test`,
    registrar: 'sip:lab.test',
    username: user,
    password: `${user}-pw`,
    contactUser: user,
    profile: profileFor({ enabler: 'im' }),
    expires: 600,
  });
  closers.push(() => reg.stop());
  await reg.register();
  assert.equal(reg.current.state, 'registered', reg.current.error);
}
