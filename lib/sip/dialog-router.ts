// Delivers in-dialog requests to the procedure that owns the dialog. Matched
// by Call-ID and our tag only (RFC 6665 4.1.2.4: a NOTIFY can arrive before
// we know the notifier's tag; Kamailio also rewrites the To URI, so URIs are
// never compared).
import type { IncomingRequest, RequestHandler } from './endpoint';

export type InDialogHandler = (req: IncomingRequest) => void;

export function dialogKey(callId: string, localTag: string): string {
  return callId + '\u0000' + localTag;
}

export class DialogRouter {
  private readonly handlers = new Map<string, InDialogHandler>();

  register(callId: string, localTag: string, handler: InDialogHandler): () => void {
    const key = dialogKey(callId, localTag);
    this.handlers.set(key, handler);
    return () => {
      if (this.handlers.get(key) === handler) this.handlers.delete(key);
    };
  }

  get size(): number {
    return this.handlers.size;
  }

  /** An endpoint request handler: takes requests whose To tag names a dialog of ours. */
  readonly handle: RequestHandler = (req) => {
    const tag = req.message.headers.to.params.tag;
    if (!tag) return false;
    const h = this.handlers.get(dialogKey(req.message.headers['call-id'], String(tag)));
    if (!h) return false;
    h(req);
    return true;
  };
}
