// The server side of deferred-message info (seed 004 7.2.6.1): a client
// subscribes to learn what messages wait for it, and gets a history-list
// document (the OMA IM deferred-list metadata, hints/settings-xml.md). The CR
// left the event package's name open ("XXX") and none was ever registered,
// so the name is a setting. `Expires: 0` is what the seed's client sends: a
// fetch, one NOTIFY with Subscription-State terminated (RFC 6665 4.4.3); a
// longer subscription gets a NOTIFY on every change of the user's list.
//
// Trust as in the settings server: the subscriber is who a trusted core
// asserted, and a user watches only their own messages (configured servers
// may watch everyone's).
import { EventEmitter } from 'node:events';
import { DEFERRED_LIST_CONTENT_TYPE, historyListOf, writeHistoryListWithin } from '../deferred/history-list';
import type { DeferredChange, DeferredMessageStore } from '../deferred/message-store';
import type { IncomingRequest, RequestHandler } from '../sip/endpoint';
import { dialogAsUas } from '../sip/dialog';
import { deltaSeconds } from '../sip/message';
import type { UserAgent } from '../sip/user-agent';
import { eventPackage } from '../subscription/notifier';
import { OwnResourceWatch, type OwnResourceWatchOptions } from './own-resource-watch';
import { failRequest } from './refusal';

/** The provisional package name (seed 004 leaves it open). */
export const DEFAULT_DEFERRED_INFO_EVENT = 'deferred-messages';
/** A NOTIFY body stays under what readers take by default (SPEC: XML over 64 KiB is refused). */
export const DEFAULT_MAX_NOTIFY_BYTES = 60 * 1024;

export interface DeferredInfoServerOptions extends OwnResourceWatchOptions {
  messages: DeferredMessageStore;
  /** Event package name; default `deferred-messages`. */
  event?: string;
  /** Largest NOTIFY body; the oldest messages are listed first and those past it left out. Default 60 KiB. */
  maxNotifyBytes?: number;
}

/**
 * Events: `subscription` (SubscriptionReport) for every subscription that
 * starts, is refreshed or ends; `fetch` ({aor, watcher, waiting}) for every
 * Expires 0 fetch answered; `refused` (ServerRefusal, IncomingRequest).
 */
export class DeferredInfoServer extends EventEmitter {
  readonly event: string;
  private readonly watch: OwnResourceWatch;
  private readonly maxNotifyBytes: number;
  private readonly onChange = (c: DeferredChange) => this.watch.notifier.changed(c.aor);

  constructor(
    ua: UserAgent,
    private readonly o: DeferredInfoServerOptions,
  ) {
    super();
    const event = (o.event ?? DEFAULT_DEFERRED_INFO_EVENT).trim().toLowerCase();
    // RFC 6665 7.2: an event package name is a token.
    if (!/^[a-z0-9!%*_+`'~.-]+$/.test(event)) throw new Error(`deferred-message info: "${o.event}" is not an event package name`);
    this.event = event;
    this.maxNotifyBytes = o.maxNotifyBytes ?? DEFAULT_MAX_NOTIFY_BYTES;
    this.watch = new OwnResourceWatch(
      ua,
      o,
      this,
      { event, contentType: DEFERRED_LIST_CONTENT_TYPE, what: 'deferred messages' },
      // The list has no partial form: every NOTIFY carries the whole list as it is when the NOTIFY leaves.
      (sub) => this.document(sub.resource),
    );
    o.messages.on('change', this.onChange);
  }

  /** Live subscriptions (fetches are over at once and not counted). */
  get watchers(): number {
    return this.watch.notifier.size;
  }

  /** An endpoint handler: takes initial SUBSCRIBEs for the configured package. */
  readonly handle: RequestHandler = (req) => {
    const m = req.message;
    if (m.method !== 'SUBSCRIBE' || m.headers.to.params.tag || eventPackage(req) !== this.event) return false;
    this.subscribe(req).catch((err: unknown) => failRequest(this, req, err));
    return true;
  };

  /** Ends every subscription (deactivated: subscribers try again) and stops following the store. */
  close(): void {
    this.o.messages.off('change', this.onChange);
    this.watch.notifier.close('deactivated');
  }

  /** The NOTIFY body for one user now. */
  document(aor: string): string {
    return writeHistoryListWithin(historyListOf(this.o.messages.list(aor)), this.maxNotifyBytes).text;
  }

  private async subscribe(req: IncomingRequest): Promise<void> {
    const m = req.message;
    const taken = await this.watch.subscribe(req);
    // A fetch the notifier answered (it refuses one only when no dialog can be made).
    if (taken && deltaSeconds(m, 'expires') === 0 && dialogAsUas(m, req.toTag)) {
      this.emit('fetch', { aor: taken.resource, watcher: taken.watcher, waiting: this.o.messages.count(taken.resource) });
    }
  }
}
