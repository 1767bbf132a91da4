// The two sides of deferred delivery for the unit tests: the server (a store
// and DeferredDelivery on an endpoint whose every request goes to the
// client), the client's Inbox, scripted callees that answer the INVITE as a
// test says, and an MSRP peer of our own making that answers each SEND as
// the test scripts it.
import net from 'node:net';
import { DeferredDelivery, type DeliveryOptions, type MessageReport } from '../../lib/deferred/delivery';
import { Inbox, type InboxDuplicate, type InboxMessage } from '../../lib/deferred/inbox';
import { DeferredMessageStore, type DeferredMessage } from '../../lib/deferred/message-store';
import { MsrpFrameParser, writeResponse } from '../../lib/msrp/frame';
import type { MessageIdMemory } from '../../lib/msrp/reassembly';
import { buildMsrpAnswer } from '../../lib/sdp/msrp-sdp';
import { SipEndpoint, type IncomingRequest, type WireEvent } from '../../lib/sip/endpoint';
import { InviteSession, type SessionOptions } from '../../lib/sip/invite-session';
import { MemoryStore } from '../../lib/store/memory-store';
import type { KeyValueStore } from '../../lib/store/store';
import type { Scheduler } from '../../lib/util/scheduler';
import type { Closers } from './settings-client';

export const ALICE = 'sip:alice@lab.test';
export const SERVER = 'sip:im-server@lab.test';
export const SENDERS = ['sip:bob@lab.test', 'sip:carol@lab.test', 'sip:dave@lab.test'];
export const TIMES = ['2026-03-01T08:00:00.000Z', '2026-03-01T09:30:00.000Z', '2026-03-02T17:45:00.000Z'];

export interface ServerOptions extends Partial<Omit<DeliveryOptions, 'endpoint' | 'messages'>> {
  /** The store under the messages (a FlakyStore to hold deletes back). */
  store?: KeyValueStore<DeferredMessage>;
  /** Clock of the server endpoint's transactions (Timer B); default the real one. */
  sipScheduler?: Scheduler;
}

/** The server side: a store and the delivery service on an endpoint whose every request goes to `port`. */
export async function deliveryServer(closers: Closers, port: number, o: ServerOptions = {}) {
  const { store, sipScheduler, ...rest } = o;
  const ep = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0, scheduler: sipScheduler, outboundProxy: { host: '127.0.0.1', port, transport: 'udp' } });
  await ep.start();
  closers.push(() => ep.close());
  const messages = new DeferredMessageStore({ store: store ?? new MemoryStore<DeferredMessage>() });
  await messages.load();
  closers.push(() => messages.close());
  const delivery = new DeferredDelivery({ endpoint: ep, messages, serverUri: SERVER, ...rest });
  closers.push(() => delivery.close());
  const reports: MessageReport[] = [];
  delivery.on('message', (r: MessageReport) => reports.push(r));
  return { ep, messages, delivery, reports };
}

/** Three messages for alice from bob, carol and dave, at TIMES. */
export async function storeThree(messages: DeferredMessageStore): Promise<DeferredMessage[]> {
  const out: DeferredMessage[] = [];
  for (let i = 0; i < 3; i++) {
    out.push(await messages.add({ recipient: ALICE, sender: SENDERS[i]!, contentType: 'text/plain;charset=utf-8', body: `message ${i + 1} ✓`, time: TIMES[i] }));
  }
  return out;
}

/** alice's inbox on `ep`, with what it outputs. */
export function startInbox(closers: Closers, ep: SipEndpoint, o: { setup?: 'active' | 'passive'; delivered?: MessageIdMemory } = {}) {
  const box = new Inbox({ endpoint: ep, aor: ALICE, contactUser: 'alice', ...o });
  box.start();
  closers.push(() => box.close());
  const got: InboxMessage[] = [];
  const duplicates: InboxDuplicate[] = [];
  box.on('message', (m: InboxMessage) => got.push(m));
  box.on('duplicate', (d: InboxDuplicate) => duplicates.push(d));
  return { box, got, duplicates };
}

/** Hands each initial INVITE reaching `ep` to `answer` as a UAS session. */
export function scriptedCallee(ep: SipEndpoint, answer: (uas: InviteSession, r: IncomingRequest) => void, o: SessionOptions = {}): void {
  ep.addHandler((r) => {
    if (r.message.method !== 'INVITE' || r.message.headers.to.params.tag) return false;
    answer(InviteSession.answering(ep, r, o), r);
    return true;
  });
}

/** The SDP answer that sends the server's MSRP to `peer` (we are passive there). */
export function answerTo(offer: string | undefined, peer: { port: number; uri: string }): string {
  return buildMsrpAnswer(offer ?? '', { address: '127.0.0.1', port: peer.port, path: peer.uri, setup: 'passive', direction: 'recvonly' }).sdp;
}

/** The requests and responses `ep` sends or receives, as they happen. */
export function wiresOf(ep: SipEndpoint, direction: 'in' | 'out'): string[] {
  const wires: string[] = [];
  ep.on('wire', (w: WireEvent) => {
    if (w.direction === direction) wires.push(w.wire);
  });
  return wires;
}

/** What the scripted MSRP peer does with the n-th message (1-based): an MSRP status, drop the connection, or never answer. */
export type MsrpScript = (n: number) => number | 'drop' | 'stall';

/**
 * A passive MSRP peer: answers 200 to the connection's empty SEND and each
 * message as `script` says. Counts the messages it saw.
 */
export async function scriptedMsrpPeer(script: MsrpScript) {
  let messages = 0;
  let binds = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const parser = new MsrpFrameParser();
    socket.on('data', (data: Buffer) => {
      for (const ev of parser.push(data)) {
        if (ev.kind !== 'frame' || ev.frame.kind !== 'request' || ev.frame.method !== 'SEND') continue;
        const req = ev.frame;
        const action = req.body.length > 0 ? script(++messages) : 200;
        if (action === 'drop') return void socket.destroy();
        if (action === 'stall') continue;
        if (req.body.length === 0) binds++;
        socket.write(writeResponse({ transactionId: req.transactionId, code: action, toPath: [req.fromPath[0]!], fromPath: [uri] }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const uri = `msrp://127.0.0.1:${port}/scriptedpeer1;tcp`;
  return {
    port,
    uri,
    received: () => messages,
    /** Empty SENDs answered: connections bound to their session (RFC 4975 5.4). */
    binds: () => binds,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A peer answering 200 to the first `answered` messages, then dropping the connection (or stalling). */
export function droppingMsrpPeer(answered: number, then: 'drop' | 'stall' = 'drop') {
  return scriptedMsrpPeer((n) => (n > answered ? then : 200));
}
