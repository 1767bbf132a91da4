// An embedded SIP/IP core for laptop labs and the demo: registrar with digest,
// location service, third-party REGISTER to an application server. Later
// slices add the reg-event notifier and routing. Not a production core.
import { EventEmitter } from 'node:events';
import type { DigestAlgorithm } from '../auth/digest-hash';
import type { IncomingRequest, RequestHandler, SipEndpoint } from '../sip/endpoint';
import { headerText, parseValueWithParams } from '../sip/message';
import { TrustedSources, type TrustedSource } from '../sip/trusted-sources';
import { realScheduler, type Scheduler } from '../util/scheduler';
import { LocationService, type Binding, type BindingEvent } from './location';
import { LabProxy, type ProxyReport } from './proxy';
import { RegEventNotifier, type NotifierReport } from './reg-notifier';
import { LoginFailureLog } from './login-failures';
import { LAB_CORE_ALGORITHMS, Registrar, type RegistrarEvent } from './registrar';
import { ThirdPartyRegistrations, type ThirdPartyResult } from './third-party';
import { WatcherAuth } from './watcher-auth';

export interface LabCoreOptions {
  domain: string;
  /** user name -> password (a Map, or a directory read when asked) */
  users: Pick<ReadonlyMap<string, string>, 'get' | 'has'>;
  /** Application server for third-party REGISTER; none disables it. */
  appServerUri?: string;
  /** Where SUBSCRIBE / PUBLISH of the settings events are proxied. Default appServerUri. */
  settingsServerUri?: string;
  /** Event packages proxied to the settings server. Default `poc-settings`. */
  settingsEvents?: string[];
  /** Where a MESSAGE for a provisioned user who is not registered goes (terminating unregistered). Default appServerUri. */
  imServerUri?: string;
  triggerTags?: string[];
  minExpires?: number;
  maxExpires?: number;
  defaultExpires?: number;
  /** Digest algorithms offered; default MD5 alone, as Kamailio challenges. */
  algorithms?: readonly DigestAlgorithm[];
  /** Where the application server sends from; it may watch every user's reg event. */
  appServerSources?: TrustedSource[];
  scheduler?: Scheduler;
}

export const DEFAULT_TRIGGER_TAGS = ['+g.poc.talkburst', '+g.oma.sip-im', '+g.3gpp.icsi-ref'];

export interface BindingReport {
  aor: string;
  event: BindingEvent['event'];
  binding: Binding;
}

/**
 * Events: `binding` (BindingReport), `third-party` (ThirdPartyResult), `auth`
 * (RegistrarEvent), `subscription` (NotifierReport), `proxy` (ProxyReport).
 */
export class LabCore extends EventEmitter {
  readonly location: LocationService;
  readonly registrar: Registrar;
  readonly regEvents: RegEventNotifier;
  readonly proxy: LabProxy;
  private readonly watchers: WatcherAuth;
  private readonly thirdParty?: ThirdPartyRegistrations;
  private readonly detach: Array<() => void> = [];

  constructor(
    private readonly endpoint: SipEndpoint,
    o: LabCoreOptions,
  ) {
    super();
    const scheduler = o.scheduler ?? realScheduler;
    this.location = new LocationService(scheduler);
    const lookup = (u: string): string | undefined => o.users.get(u);
    const algorithms = o.algorithms ?? LAB_CORE_ALGORITHMS;
    this.registrar = new Registrar({
      domain: o.domain,
      lookup,
      location: this.location,
      scheduler,
      minExpires: o.minExpires,
      maxExpires: o.maxExpires,
      defaultExpires: o.defaultExpires,
      algorithms,
    });
    const failures = new LoginFailureLog({ now: () => scheduler.now() });
    const onAuthEvent = (e: RegistrarEvent): void => {
      if (e.kind !== 'rejected') return void this.emit('auth', e);
      const report = failures.record(e.user, e.reason ?? '');
      if (report) this.emit('auth', { ...e, count: report.count } satisfies RegistrarEvent);
    };
    this.registrar.onAuthEvent = onAuthEvent;
    this.watchers = new WatcherAuth({
      domain: o.domain,
      lookup,
      algorithms,
      trusted: new TrustedSources(o.appServerSources ?? []),
      now: () => scheduler.now(),
      onAuthEvent,
    });
    this.regEvents = new RegEventNotifier(endpoint, this.location, {
      domain: o.domain,
      isUser: (u) => o.users.has(u),
      scheduler,
      minExpires: o.minExpires,
      maxExpires: o.maxExpires,
    });
    this.regEvents.onReport = (r: NotifierReport) => this.emit('subscription', r);
    this.proxy = new LabProxy(endpoint, {
      domain: o.domain,
      lookup,
      location: this.location,
      scheduler,
      algorithms,
      settingsServerUri: o.settingsServerUri || o.appServerUri,
      settingsEvents: o.settingsEvents,
      imServerUri: o.imServerUri || o.appServerUri,
    });
    this.proxy.onReport = (r: ProxyReport) => this.emit('proxy', r);
    if (o.appServerUri) {
      this.thirdParty = new ThirdPartyRegistrations(endpoint, this.location, {
        serverUri: o.appServerUri,
        triggerTags: o.triggerTags ?? DEFAULT_TRIGGER_TAGS,
        coreUri: () => endpoint.contactUri(),
        scheduler,
      });
      this.thirdParty.onResult = (r: ThirdPartyResult) => this.emit('third-party', r);
    }
    this.location.on('change', (aor: string, events: BindingEvent[]) => {
      for (const e of events) this.emit('binding', { aor, event: e.event, binding: e.binding } satisfies BindingReport);
      this.thirdParty?.onBindings(aor, events, this.registrar.registering);
      this.regEvents.onBindings(aor, events);
    });
  }

  start(): void {
    const handler: RequestHandler = (req: IncomingRequest) => {
      if (this.proxy.handle(req)) return true;
      switch (req.message.method) {
        case 'REGISTER':
          this.registrar.handle(req);
          return true;
        case 'OPTIONS':
          req.respond(200, { headers: { allow: 'REGISTER, OPTIONS, SUBSCRIBE', accept: 'application/sdp', 'allow-events': 'reg' } });
          return true;
        case 'SUBSCRIBE':
          if (req.message.headers.to.params.tag) return false; // in-dialog: its dialog answers, else 481
          this.subscribe(req).catch(() => {
            if (!req.responded) req.respond(500, { reason: 'Server Internal Error' });
          });
          return true;
        default:
          return false;
      }
    };
    this.detach.push(this.endpoint.addHandler(handler));
  }

  private async subscribe(req: IncomingRequest): Promise<void> {
    if (!isRegEvent(req)) return req.respond(489, { headers: { 'allow-events': 'reg' } });
    if (await this.watchers.admit(req)) this.regEvents.handle(req);
  }

  /** Number of addresses of record with at least one binding. */
  get registeredUsers(): number {
    return this.location.aors().filter((a) => this.location.lookup(a).length > 0).length;
  }

  /**
   * Stops serving. Clients in the same Node-RED say goodbye (de-REGISTER) while
   * the flow stops, so the core keeps answering until its bindings are gone or
   * `graceMs` has passed.
   */
  async stop(graceMs = 0): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && this.registeredUsers > 0) await new Promise((r) => setTimeout(r, 20));
    this.regEvents.close();
    for (const d of this.detach.splice(0)) d();
    this.location.close();
  }
}

function isRegEvent(req: IncomingRequest): boolean {
  return parseValueWithParams(headerText(req.message, 'event') ?? '').value.toLowerCase() === 'reg';
}
