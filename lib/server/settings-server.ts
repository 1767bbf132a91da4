// The PoC / IM server's service settings (seed 003 6.1.1.5, seed 002 steps
// 16-32): PUBLISH `poc-settings` checked in the seed's order, stored per RFC
// 3903, and SUBSCRIBE `poc-settings` served per RFC 6665 with the composed
// settings of every client of the user. It believes only the core it is
// configured with: P-Asserted-Identity counts when the request came from a
// trusted source, and nothing else says who sent it.
import { EventEmitter } from 'node:events';
import type { IncomingRequest, RequestHandler } from '../sip/endpoint';
import { deltaSeconds, headerText, parseValueWithParams, splitHeaderList, type SipRequest } from '../sip/message';
import type { TrustedSources } from '../sip/trusted-sources';
import { addressOfRecord } from '../sip/uri';
import type { UserAgent } from '../sip/user-agent';
import { documentView, offlineDeliveryActive, type SettingsView } from '../settings/settings-input';
import { readSettings } from '../settings/settings-reader';
import { POC_SETTINGS_CONTENT_TYPE, POC_SETTINGS_EVENT, type SettingsDocument } from '../settings/settings-types';
import { writeSettings } from '../settings/settings-writer';
import type { PublicationChange, Publications, PublishOutcome, StoredPublication } from '../settings/publications';
import { eventPackage, Notifier, type SubscriptionReport } from '../subscription/notifier';
import { realScheduler, type Scheduler } from '../util/scheduler';
import { assertedIdentities } from './asserted-identity';

export const POC_FEATURE_TAG = '+g.poc.talkburst';
export const IM_FEATURE_TAG = '+g.oma.sip-im';
/** Settings bodies above this are refused before parsing (SPEC: bad input). */
export const MAX_SETTINGS_BYTES = 64 * 1024;

export interface SettingsServerOptions {
  publications: Publications;
  /** The core(s) whose P-Asserted-Identity is believed. */
  trusted: TrustedSources;
  /** Enabler feature tags of which Accept-Contact must name one (default: PoC and IM). */
  featureTags?: string[];
  /** Identities (besides each user for themself) that may watch every user's settings: the core's own, a server's. */
  watchAll?: string[];
  scheduler?: Scheduler;
  /** Bounds of a settings subscription, seconds (defaults 60 and 3600). */
  minSubscribeExpires?: number;
  maxSubscribeExpires?: number;
  /** Caps of the notifier (see NotifierOptions): per watcher identity (default 16: a user's clients), in total (default 100000). */
  maxSubscriptionsPerWatcher?: number;
  maxSubscriptions?: number;
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
export interface SettingsRefusal {
  method: string;
  status: number;
  reason: string;
}

/**
 * Events: `settings` (SettingsEvent, IncomingRequest | undefined) for every
 * accepted PUBLISH and every expiry; `refused` (SettingsRefusal,
 * IncomingRequest); `subscription` (SubscriptionReport); `error` is never
 * emitted (a failing store answers 500 and is reported by Publications).
 */
export class SettingsServer extends EventEmitter {
  private readonly featureTags: string[];
  private readonly watchAll: Set<string>;
  private readonly notifier: Notifier<undefined>;
  private readonly onChange = (c: PublicationChange) => this.changed(c);

  constructor(
    ua: UserAgent,
    private readonly o: SettingsServerOptions,
  ) {
    super();
    this.featureTags = (o.featureTags ?? [POC_FEATURE_TAG, IM_FEATURE_TAG]).map((t) => t.toLowerCase());
    this.watchAll = new Set((o.watchAll ?? []).map((w) => addressOfRecord(w) ?? w));
    this.notifier = new Notifier<undefined>(
      ua,
      {
        event: POC_SETTINGS_EVENT,
        contentType: POC_SETTINGS_CONTENT_TYPE,
        scheduler: o.scheduler ?? realScheduler,
        minExpires: o.minSubscribeExpires,
        maxExpires: o.maxSubscribeExpires,
        maxPerWatcher: o.maxSubscriptionsPerWatcher ?? 16,
        maxTotal: o.maxSubscriptions ?? 100_000,
      },
      // poc-settings has no partial state: every NOTIFY carries the whole composed document.
      (sub) => writeSettings(this.o.publications.current(sub.resource)),
    );
    this.notifier.onReport = (r: SubscriptionReport) => this.emit('subscription', r);
    o.publications.on('change', this.onChange);
  }

  /** Users with settings stored. */
  get users(): number {
    return this.o.publications.aorCount;
  }

  /** Live settings subscriptions. */
  get watchers(): number {
    return this.notifier.size;
  }

  /**
   * An endpoint handler: takes every PUBLISH (the seed's procedure answers
   * other events with 489) and initial SUBSCRIBEs for `poc-settings`.
   */
  readonly handle: RequestHandler = (req) => {
    const m = req.message;
    if (m.method === 'PUBLISH') {
      this.publish(req).catch((err: unknown) => this.fail(req, err));
      return true;
    }
    if (m.method === 'SUBSCRIBE' && !m.headers.to.params.tag && eventPackage(req) === POC_SETTINGS_EVENT) {
      this.subscribe(req).catch((err: unknown) => this.fail(req, err));
      return true;
    }
    return false;
  };

  /** Ends every subscription (deactivated: watchers subscribe again) and stops listening to the store. */
  close(): void {
    this.o.publications.off('change', this.onChange);
    this.notifier.close('deactivated');
  }

  /** Seed 003 6.1.1.5 steps 1-6, in that order. */
  private async publish(req: IncomingRequest): Promise<void> {
    const m = req.message;
    if (!this.namesEnabler(m)) return this.refuse(req, 403, 'Forbidden (Accept-Contact names no enabler feature tag)');
    if (eventPackage(req) !== POC_SETTINGS_EVENT) {
      return this.refuse(req, 489, 'Bad Event', { 'allow-events': POC_SETTINGS_EVENT });
    }
    const aor = addressOfRecord(m.uri);
    const by = await this.asserted(req);
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

  /** SUBSCRIBE poc-settings: a user watches their own settings; the core and configured servers anyone's. */
  private async subscribe(req: IncomingRequest): Promise<void> {
    const m = req.message;
    const resource = addressOfRecord(m.uri);
    const watcher = await this.asserted(req);
    if (!watcher) return this.refuse(req, 403, 'Forbidden (subscriber not asserted by a trusted core)');
    if (!resource) return this.refuse(req, 404, 'Not Found (Request-URI is not a user)');
    if (watcher !== resource && !this.watchAll.has(watcher)) {
      return this.refuse(req, 403, 'Forbidden (only the user may watch their own settings)');
    }
    const accept = headerText(m, 'accept');
    if (accept && !splitHeaderList(accept).some((a) => acceptsSettings(a))) {
      return this.refuse(req, 406, 'Not Acceptable', { accept: POC_SETTINGS_CONTENT_TYPE });
    }
    this.notifier.subscribe(req, { resource, watcher, state: undefined });
  }

  /**
   * The originator as the trusted core asserted it, when the request came
   * from that core; the first asserted identity that is a SIP URI counts
   * (RFC 3325 allows one SIP and one tel URI).
   */
  private async asserted(req: IncomingRequest): Promise<string | undefined> {
    const ids = assertedIdentities(req.message);
    if (ids.length === 0) return undefined;
    if (!(await this.o.trusted.allows(req))) return undefined;
    const target = addressOfRecord(req.message.uri);
    return ids.find((id) => id === target) ?? ids.find((id) => id.startsWith('sip')) ?? ids[0];
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
    if (c.kind !== 'refresh') this.notifier.changed(c.aor);
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
    const text = phrase(reason) || String(status);
    req.respond(status, { reason: text, headers });
    this.emit('refused', { method: req.message.method, status, reason: text } satisfies SettingsRefusal, req);
  }

  private fail(req: IncomingRequest, err: unknown): void {
    if (!req.responded) req.respond(500, { reason: 'Server Internal Error' });
    this.emit('refused', { method: req.message.method, status: 500, reason: String((err as Error)?.message ?? err) } satisfies SettingsRefusal, req);
  }
}

/** A reason phrase from any explanation: one line of printable ASCII, short (RFC 3261 25.1 Reason-Phrase). */
function phrase(reason: string): string {
  return reason.replace(/[^\x20-\x7e]+/g, ' ').trim().slice(0, 160);
}

function acceptsSettings(media: string): boolean {
  const v = parseValueWithParams(media).value.trim().toLowerCase();
  return v === POC_SETTINGS_CONTENT_TYPE || v === '*/*' || v === 'application/*';
}
