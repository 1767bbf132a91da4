// What the settings server and the deferred-message info server share: a
// per-user resource that its user (and configured servers) may watch over
// RFC 6665, believed only when a trusted core asserted the subscriber, with
// the whole state in every NOTIFY.
import type { EventEmitter } from 'node:events';
import type { IncomingRequest } from '../sip/endpoint';
import { headerText } from '../sip/message';
import type { TrustedSources } from '../sip/trusted-sources';
import { addressOfRecord } from '../sip/uri';
import type { UserAgent } from '../sip/user-agent';
import { Notifier, type NotifyBody, type SubscriptionReport } from '../subscription/notifier';
import { realScheduler, type Scheduler } from '../util/scheduler';
import { trustedOriginator } from './originator';
import { acceptsMediaType, refuseRequest } from './refusal';

export interface OwnResourceWatchOptions {
  /** The core(s) whose P-Asserted-Identity is believed. */
  trusted: TrustedSources;
  /** Identities (besides each user for themself) that may watch every user's resource: the core's own, a server's. */
  watchAll?: string[];
  scheduler?: Scheduler;
  /** Bounds of a subscription, seconds (defaults 60 and 3600). */
  minSubscribeExpires?: number;
  maxSubscribeExpires?: number;
  /** Caps of the notifier (see NotifierOptions): per watcher identity (default 16: a user's clients), in total (default 100000). */
  maxSubscriptionsPerWatcher?: number;
  maxSubscriptions?: number;
}

export class OwnResourceWatch {
  readonly notifier: Notifier<undefined>;
  private readonly watchAll: Set<string>;
  private readonly contentType: string;
  /** What is watched, in words for a refusal: 'settings', 'deferred messages'. */
  private readonly what: string;

  /** Subscription reports go to `events` as 'subscription' (SubscriptionReport), refusals as 'refused'. */
  constructor(
    ua: UserAgent,
    private readonly o: OwnResourceWatchOptions,
    private readonly events: EventEmitter,
    package_: { event: string; contentType: string; what: string },
    body: NotifyBody<undefined>,
  ) {
    this.watchAll = new Set((o.watchAll ?? []).map((w) => addressOfRecord(w) ?? w));
    this.contentType = package_.contentType;
    this.what = package_.what;
    this.notifier = new Notifier<undefined>(
      ua,
      {
        event: package_.event,
        contentType: package_.contentType,
        scheduler: o.scheduler ?? realScheduler,
        minExpires: o.minSubscribeExpires,
        maxExpires: o.maxSubscribeExpires,
        maxPerWatcher: o.maxSubscriptionsPerWatcher ?? 16,
        maxTotal: o.maxSubscriptions ?? 100_000,
      },
      body,
    );
    this.notifier.onReport = (r: SubscriptionReport) => events.emit('subscription', r);
  }

  /** The originator as a trusted core asserted it (see trustedOriginator). */
  asserted(req: IncomingRequest): Promise<string | undefined> {
    return trustedOriginator(req, this.o.trusted);
  }

  /**
   * Checks an initial SUBSCRIBE (403 for a subscriber no trusted core
   * asserted or another user, 404 for a Request-URI that is no user, 406 for
   * an Accept without our type) and hands it to the notifier. Resolves with
   * the resource and watcher when it was handed on, undefined when refused.
   */
  async subscribe(req: IncomingRequest): Promise<{ resource: string; watcher: string } | undefined> {
    const m = req.message;
    const resource = addressOfRecord(m.uri);
    const watcher = await this.asserted(req);
    if (!watcher) return this.refuse(req, 403, 'Forbidden (subscriber not asserted by a trusted core)');
    if (!resource) return this.refuse(req, 404, 'Not Found (Request-URI is not a user)');
    if (watcher !== resource && !this.watchAll.has(watcher)) {
      return this.refuse(req, 403, `Forbidden (only the user may watch their own ${this.what})`);
    }
    const accept = headerText(m, 'accept');
    if (accept && !acceptsMediaType(accept, this.contentType)) {
      return this.refuse(req, 406, 'Not Acceptable', { accept: this.contentType });
    }
    this.notifier.subscribe(req, { resource, watcher, state: undefined });
    return { resource, watcher };
  }

  private refuse(req: IncomingRequest, status: number, reason: string, headers?: Record<string, string>): undefined {
    refuseRequest(this.events, req, status, reason, headers);
    return undefined;
  }
}
