// An Inbox for alice on a test endpoint, started, closed with the test, and
// what it output: the messages and the duplicates it dropped.
import { Inbox, type InboxDuplicate, type InboxMessage, type InboxOptions } from '../../lib/deferred/inbox';
import type { SipEndpoint } from '../../lib/sip/endpoint';
import type { Closers } from './settings-client';

export function startInbox(ep: SipEndpoint, closers: Closers, o: Partial<InboxOptions> = {}): { box: Inbox; got: InboxMessage[]; duplicates: InboxDuplicate[] } {
  const box = new Inbox({ endpoint: ep, aor: 'sip:alice@lab.test', contactUser: 'alice', ...o });
  box.start();
  closers.push(() => box.close());
  const got: InboxMessage[] = [];
  const duplicates: InboxDuplicate[] = [];
  box.on('message', (m: InboxMessage) => got.push(m));
  box.on('duplicate', (d: InboxDuplicate) => duplicates.push(d));
  return { box, got, duplicates };
}
