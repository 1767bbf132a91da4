// A stored message as it goes over MSRP (seed 003 12.2.2.2, SPEC "Messages
// keep their original sender and time"): wrapped in message/cpim (RFC 3862)
// with the original sender in From, the recipient in To, the time it was
// first received in DateTime, and the store's id as imdn.Message-ID (RFC
// 5438 6.3), which stays the same when a message is delivered again after a
// crash, so that the receiving side can drop the duplicate.
import { buildCpim, parseCpim, type CpimAddress } from '../cpim/cpim';
import { messageContent, type DeferredMessage } from './message-store';

export const IMDN_NAMESPACE = 'urn:ietf:params:imdn';

export function deferredAsCpim(m: DeferredMessage): Buffer {
  const from: CpimAddress = { uri: m.sender };
  if (m.senderName) from.name = m.senderName;
  return buildCpim({
    from,
    to: m.recipient,
    dateTime: new Date(m.receivedAt),
    subject: m.subject,
    namespaces: [{ prefix: 'imdn', uri: IMDN_NAMESPACE }],
    extensions: [{ prefix: 'imdn', name: 'Message-ID', value: m.id }],
    contentType: m.contentType,
    // Text goes in as it is stored: one copy into the wrapper instead of two.
    body: m.encoding === 'text' ? m.body : messageContent(m),
  });
}

/** The stored id that a wrapper built by deferredAsCpim carries, when there is one. */
export function deferredIdOfCpim(data: Buffer | string): string | undefined {
  const cpim = parseCpim(data);
  return cpim.extensions.find((h) => h.namespace === IMDN_NAMESPACE && h.name.toLowerCase() === 'message-id')?.value;
}
