// A subscription to the registration state of one address of record
// (RFC 3680 over RFC 6665): every NOTIFY is read, merged into the view, and
// reported as changes. A document that breaks the version sequence asks the
// notifier for full state by refreshing; a hostile or malformed body is
// reported and leaves the view as it was.
import { isEmptyBody, readReginfo } from '../reginfo/reginfo-reader';
import { REGINFO_CONTENT_TYPE } from '../reginfo/reginfo-types';
import { ReginfoView, type ReginfoChange, type ReginfoSnapshot } from '../reginfo/reginfo-view';
import type { UserAgent } from '../sip/user-agent';
import { PackageSubscription } from '../subscription/package-subscription';
import type { NotifyEvent, SubscriberOptions } from '../subscription/subscriber';

export type RegSubscriptionOptions = Omit<SubscriberOptions, 'event' | 'accept'>;

export interface RegUpdate {
  aor: string;
  notify: NotifyEvent;
  /** Document version and state, absent for an empty NOTIFY. */
  version?: number;
  full?: boolean;
  changes: ReginfoChange[];
  snapshot: ReginfoSnapshot;
}

export interface RegProblem {
  aor: string;
  notify: NotifyEvent;
  error: string;
}

/** Emits `update` (RegUpdate), `invalid` (RegProblem), `resync` (RegProblem) and `change` (SubscriptionChange). */
export class RegSubscription extends PackageSubscription {
  readonly view = new ReginfoView();

  constructor(
    ua: UserAgent,
    readonly options: RegSubscriptionOptions,
  ) {
    super(ua, { ...options, event: 'reg', accept: [REGINFO_CONTENT_TYPE] });
  }

  protected onNotify(n: NotifyEvent): void {
    if (n.first) this.view.restart();
    if (isEmptyBody(n.body)) {
      // Kamailio answers a subscription to a user without bindings with an empty NOTIFY;
      // as the first of a subscription it is full state: what we held is gone.
      const changes = n.first ? this.view.applyEmpty() : [];
      this.emit('update', { aor: this.aor, notify: n, changes, snapshot: this.view.snapshot() } satisfies RegUpdate);
      return;
    }
    const wrong = this.wrongType(n);
    if (wrong) {
      this.emit('invalid', { aor: this.aor, notify: n, error: wrong } satisfies RegProblem);
      return;
    }
    const read = readReginfo(n.body);
    if (!read.ok) {
      this.emit('invalid', { aor: this.aor, notify: n, error: read.error } satisfies RegProblem);
      return;
    }
    const applied = this.view.apply(read.doc);
    if (applied.needFullState) {
      this.emit('resync', { aor: this.aor, notify: n, error: applied.reason } satisfies RegProblem);
      if (n.state !== 'terminated') void this.subscriber.refresh();
      return;
    }
    this.emit('update', {
      aor: this.aor,
      notify: n,
      version: read.doc.version,
      full: read.doc.state === 'full',
      changes: applied.changes,
      snapshot: this.view.snapshot(),
    } satisfies RegUpdate);
  }
}
