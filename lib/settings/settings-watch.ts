// A subscription to the `poc-settings` of one user (RFC 4354 over RFC 6665,
// seed 002 steps 16-23 and 29-31): every NOTIFY carries the whole document,
// one entity per publishing client, so a client sees what the others set. An
// empty body or document means nobody published yet (seed 002 step 20); a
// body the reader refuses is reported and the last good settings are kept.
import type { UserAgent } from '../sip/user-agent';
import { PackageSubscription } from '../subscription/package-subscription';
import type { NotifyEvent, SubscriberOptions } from '../subscription/subscriber';
import { readSettings } from './settings-reader';
import { POC_SETTINGS_CONTENT_TYPE, POC_SETTINGS_EVENT, type SettingsDocument, type SettingsEntity } from './settings-types';

export interface SettingsWatchOptions extends Omit<SubscriberOptions, 'event' | 'accept'> {
  /** The entity id this client publishes under, to tell its own settings from the others'. */
  ownEntityId?: string;
}

export interface SettingsUpdate {
  aor: string;
  notify: NotifyEvent;
  document: SettingsDocument;
  /** No entity carries any setting: nobody published (or everything was removed or expired). */
  empty: boolean;
  /** Who set them: the entity ids, in document order. */
  entities: string[];
  /** Our own entity id when the document holds it. */
  own?: string;
  /** Entity ids of the user's other clients. */
  others: string[];
}

export interface SettingsProblem {
  aor: string;
  notify: NotifyEvent;
  error: string;
}

/** Emits `update` (SettingsUpdate), `invalid` (SettingsProblem) and `change` (SubscriptionChange). */
export class SettingsWatch extends PackageSubscription {
  private last: SettingsDocument = { entities: [] };

  constructor(
    ua: UserAgent,
    readonly options: SettingsWatchOptions,
  ) {
    const { ownEntityId: _own, ...subscription } = options;
    super(ua, { ...subscription, event: POC_SETTINGS_EVENT, accept: [POC_SETTINGS_CONTENT_TYPE] });
  }

  /** The last good document (empty before the first NOTIFY). */
  get document(): SettingsDocument {
    return this.last;
  }

  protected onNotify(n: NotifyEvent): void {
    // The final NOTIFY of an ended subscription often has no body: it says nothing about the settings.
    if (n.state === 'terminated' && n.body.trim() === '') return;
    let doc: SettingsDocument;
    if (n.body.trim() === '') doc = { entities: [] };
    else {
      const wrong = this.wrongType(n);
      if (wrong) {
        this.emit('invalid', { aor: this.aor, notify: n, error: wrong } satisfies SettingsProblem);
        return;
      }
      const read = readSettings(n.body);
      if (!read.ok) {
        this.emit('invalid', { aor: this.aor, notify: n, error: read.error } satisfies SettingsProblem);
        return;
      }
      doc = read.document;
    }
    this.last = doc;
    const entities = doc.entities.map((e) => e.id);
    const own = this.options.ownEntityId !== undefined && entities.includes(this.options.ownEntityId) ? this.options.ownEntityId : undefined;
    this.emit('update', {
      aor: this.aor,
      notify: n,
      document: doc,
      empty: doc.entities.every(isBare),
      entities,
      own,
      others: entities.filter((id) => id !== this.options.ownEntityId),
    } satisfies SettingsUpdate);
  }
}

/** An entity without any setting (seed 002 step 20: no incoming-session-barring or answer-mode). */
export function isBare(e: SettingsEntity): boolean {
  const none = (o: object | undefined) => !o || Object.values(o).every((v) => v === undefined);
  return none(e.poc) && none(e.im) && e.extensions.length === 0;
}
