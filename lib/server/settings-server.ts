// The PoC / IM server's service settings (seed 003 6.1.1.5, seed 002 steps
// 16-32): PUBLISH `poc-settings` checked in the seed's order, stored per RFC
// 3903, and SUBSCRIBE `poc-settings` served per RFC 6665 with the composed
// settings of every client of the user. It believes only the core it is
// configured with: P-Asserted-Identity counts when the request came from a
// trusted source, and nothing else says who sent it.
import { EventEmitter } from 'node:events';
import type { IncomingRequest, RequestHandler } from '../sip/endpoint';
import { deltaSeconds, headerText, parseValueWithParams, splitHeaderList, type SipRequest } from '../sip/message';
import { addressOfRecord } from '../sip/uri';
import type { UserAgent } from '../sip/user-agent';
import { documentView, offlineDeliveryActive, type SettingsView } from '../settings/settings-input';
import { readSettings } from '../settings/settings-reader';
import { POC_SETTINGS_CONTENT_TYPE, POC_SETTINGS_EVENT, type SettingsDocument } from '../settings/settings-types';
import { writeSettings } from '../settings/settings-writer';
import type { PublicationChange, Publications, PublishOutcome, StoredPublication } from '../settings/publications';
import { eventPackage } from '../subscription/notifier';
import { OwnResourceWatch, type OwnResourceWatchOptions } from './own-resource-watch';
import { failRequest, refuseRequest, type ServerRefusal } from './refusal';

export const POC_FEATURE_TAG = '+g.poc.talkburst';
export const IM_FEATURE_TAG = '+g.oma.sip-im';
/** Settings bodies above this are refused before parsing (SPEC: bad input). */
export const MAX_SETTINGS_BYTES = 64 * 1024;

export interface SettingsServerOptions extends OwnResourceWatchOptions {
  publications: Publications;
  /** Enabler feature tags of which Accept-Contact must name one (default: PoC and IM). */
  featureTags?: string[];
}

export type SettingsEventKind = 'initial' | 'modify' | 'refresh' | 'remove' | 'expired';

/** One accepted publication (or an expiry), for the flow and the deferred-delivery slice. */
export interface SettingsEvent {
  aor: string;
  kind: SettingsEventKind;
  /** The asserted identity that published (absent for an expiry of an old publication without one). */
  by?: string;
  /** The user's settings now: every live publication composed. */
  document: SettingsDocument;
  settingsView: SettingsView;
  /** Offline delivery activation (seed 003 12.2.2.2); undefined when no publication says. */
  offlineDelivery: boolean | undefined;
  publication: StoredPublication;
}

/** Why a request was refused, for the flow's log. */
export type SettingsRefusal = ServerRefusal;

/**
 * Events: `settings` (SettingsEvent, IncomingRequest | undefined) for every
 * accepted PUBLISH and every expiry; `refused` (SettingsRefusal,
 * IncomingRequest); `subscription` (SubscriptionReport); `error` is never
 * emitted (a failing store answers 500 and is reported by Publications).
 */
export class SettingsServer extends EventEmitter {
  private readonly featureTags: string[];
  private readonly watch: OwnResourceWatch;
  private readonly onChange = (c: PublicationChange) => this.changed(c);

  constructor(
    ua: UserAgent,
    private readonly o: SettingsServerOptions,
  ) {
    super();
    this.featureTags = (o.featureTags ?? [POC_FEATURE_TAG, IM_FEATURE_TAG]).map((t) => t.toLowerCase());
    this.watch = new OwnResourceWatch(
      ua,
      o,
      this,
      { event: POC_SETTINGS_EVENT, contentType: POC_SETTINGS_CONTENT_TYPE, what: 'settings' },
      // poc-settings has no partial state: every NOTIFY carries the whole composed document.
      (sub) => writeSettings(this.o.publications.current(sub.resource)),
    );
    o.publications.on('change', this.onChange);
  }

  /** Users with settings stored. */
  get users(): number {
    return this.o.publications.aorCount;
  }

  /** Live settings subscriptions. */
  get watchers(): number {
    return this.watch.notifier.size;
  }

  /**
   * An endpoint handler: takes every PUBLISH (the seed's procedure answers
   * other events with 489) and initial SUBSCRIBEs for `poc-settings`.
   */
  readonly handle: RequestHandler = (req) => {
    if (!takesSettingsRequest(req)) return false;
    if (req.message.method === 'PUBLISH') this.publish(req).catch((err: unknown) => this.fail(req, err));
    else this.watch.subscribe(req).catch((err: unknown) => this.fail(req, err));
    return true;
  };

  /** Ends every subscription (deactivated: watchers subscribe again) and stops listening to the store. */
  close(): void {
    this.o.publications.off('change', this.onChange);
    this.watch.notifier.close('deactivated');
  }

  /** Seed 003 6.1.1.5 steps 1-6, in that order. */
  private async publish(req: IncomingRequest): Promise<void> {
    const m = req.message;
    if (!this.namesEnabler(m)) return this.refuse(req, 403, 'Forbidden (Accept-Contact names no enabler feature tag)');
    if (eventPackage(req) !== POC_SETTINGS_EVENT) {
      return this.refuse(req, 489, 'Bad Event', { 'allow-events': POC_SETTINGS_EVENT });
    }
    const aor = addressOfRecord(m.uri);
    const by = await this.watch.asserted(req);
    if (!by) return this.refuse(req, 403, 'Forbidden (originator not asserted by a trusted core)');
    if (!aor || by !== aor) return this.refuse(req, 403, 'Forbidden (asserted identity is not the Request-URI user)');

    const body = m.content ?? '';
    let parsed: { text: string; document: SettingsDocument } | undefined;
    if (body.length > 0) {
      const type = parseValueWithParams(headerText(m, 'content-type') ?? '').value.toLowerCase();
      if (type !== POC_SETTINGS_CONTENT_TYPE) {
        return this.refuse(req, 415, 'Unsupported Media Type', { accept: POC_SETTINGS_CONTENT_TYPE });
      }
      if (Buffer.byteLength(body, 'utf8') > MAX_SETTINGS_BYTES) {
        return this.refuse(req, 400, `Bad Request (settings over ${MAX_SETTINGS_BYTES} bytes)`);
      }
      const read = readSettings(body);
      if (!read.ok) return this.refuse(req, 400, `Bad Request (${read.error})`);
      parsed = { text: body, document: read.document };
    }
    const hasExpires = headerText(m, 'expires') !== undefined;
    const expires = deltaSeconds(m, 'expires');
    if (hasExpires && expires === undefined) return this.refuse(req, 400, 'Bad Request (Expires is not delta-seconds)');

    const outcome: PublishOutcome = await this.o.publications.publish({
      aor,
      ifMatch: headerText(m, 'sip-if-match')?.trim(),
      expires,
      body: parsed,
      by,
      userAgent: headerText(m, 'user-agent'),
    });
    if (!outcome.ok) {
      const headers: Record<string, string> = {};
      if (outcome.minExpires !== undefined) headers['min-expires'] = String(outcome.minExpires);
      if (outcome.retryAfter !== undefined) headers['retry-after'] = String(outcome.retryAfter);
      return this.refuse(req, outcome.status, outcome.reason, headers);
    }
    req.respond(200, { headers: { 'sip-etag': outcome.etag, expires: String(outcome.expires) } });
    this.emitSettings(outcome.kind, outcome.publication, req, outcome.document);
  }

  private namesEnabler(m: SipRequest): boolean {
    const text = headerText(m, 'accept-contact');
    if (!text) return false;
    return splitHeaderList(text).some((value) => {
      const params = parseValueWithParams(value).params;
      return this.featureTags.some((tag) => tag in params);
    });
  }

  private changed(c: PublicationChange): void {
    // A refresh changes no setting: watchers hear nothing (RFC 3903 composition unchanged).
    if (c.kind !== 'refresh') this.watch.notifier.changed(c.aor);
    if (c.kind === 'expired') this.emitSettings('expired', c.publication, undefined, c.document);
  }

  /** `document`: the composed state after the change, as Publications reported it. */
  private emitSettings(kind: SettingsEventKind, publication: StoredPublication, req: IncomingRequest | undefined, document: SettingsDocument): void {
    const event: SettingsEvent = {
      aor: publication.aor,
      kind,
      by: publication.by,
      document,
      settingsView: documentView(document),
      offlineDelivery: offlineDeliveryActive(document),
      publication,
    };
    this.emit('settings', event, req);
  }

  private refuse(req: IncomingRequest, status: number, reason: string, headers: Record<string, string> = {}): void {
    refuseRequest(this, req, status, reason, headers);
  }

  private fail(req: IncomingRequest, err: unknown): void {
    failRequest(this, req, err);
  }
}

/**
 * Whether the settings server takes a request: every PUBLISH (the seed's
 * procedure answers other events with 489) and initial SUBSCRIBEs for
 * `poc-settings`. Also what a node holds while the server's store loads.
 */
export function takesSettingsRequest(req: IncomingRequest): boolean {
  const m = req.message;
  if (m.method === 'PUBLISH') return true;
  return m.method === 'SUBSCRIBE' && !m.headers.to.params.tag && eventPackage(req) === POC_SETTINGS_EVENT;
}
