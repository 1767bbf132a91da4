// What every event package's subscription (reg, poc-settings) shares: a
// Subscriber underneath, its state changes passed on, and the check that a
// NOTIFY body is of the package's type before it is read.
import { EventEmitter } from 'node:events';
import type { UserAgent } from '../sip/user-agent';
import { Subscriber, type NotifyEvent, type SubscriberOptions, type SubscriptionChange } from './subscriber';

/** Emits `change` (SubscriptionChange); subclasses emit what they read from each NOTIFY. */
export abstract class PackageSubscription extends EventEmitter {
  readonly subscriber: Subscriber;

  constructor(
    ua: UserAgent,
    private readonly subscription: SubscriberOptions,
  ) {
    super();
    this.subscriber = new Subscriber(ua, subscription);
    this.subscriber.on('notify', (n: NotifyEvent) => this.onNotify(n));
    this.subscriber.on('change', (c: SubscriptionChange) => this.emit('change', c));
  }

  /** The resource watched: the address of record. */
  get aor(): string {
    return this.subscription.target;
  }

  start(): Promise<void> {
    return this.subscriber.start();
  }

  unsubscribe(): Promise<void> {
    return this.subscriber.unsubscribe();
  }

  stop(): void {
    this.subscriber.stop();
  }

  protected abstract onNotify(n: NotifyEvent): void;

  /** Why the body cannot be read as this package's document (its media type), or undefined when it can. */
  protected wrongType(n: NotifyEvent): string | undefined {
    const expected = this.subscription.accept[0]!;
    const type = (n.contentType ?? '').split(';')[0]!.trim().toLowerCase();
    return type === expected ? undefined : `NOTIFY body of type "${n.contentType ?? 'none'}", expected ${expected}`;
  }
}
