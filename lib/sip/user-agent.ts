// What a procedure (registration, subscription, publication) needs from the
// stack under it. SipEndpoint provides it; unit tests provide a fake peer.
import type { DialogRouter } from './dialog-router';
import type { RequestResult, SendOptions } from './endpoint';
import type { SipRequest } from './message';

export interface UserAgent {
  request(req: SipRequest, opts?: SendOptions): Promise<RequestResult>;
  contactUri(user?: string): string;
  newCallId(): string;
  newTag(): string;
  readonly protocol: 'udp' | 'tcp';
  readonly dialogs: DialogRouter;
}
