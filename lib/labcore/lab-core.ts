// An embedded SIP/IP core for laptop labs and the demo: registrar with digest,
// location service, third-party REGISTER to an application server. Later
// slices add the reg-event notifier and routing. Not a production core.
import { EventEmitter } from 'node:events';
import type { IncomingRequest, RequestHandler, SipEndpoint } from '../sip/endpoint';
import { realScheduler, type Scheduler } from '../util/scheduler';
import { LocationService, type Binding, type BindingEvent } from './location';
import { LabProxy, type ProxyReport } from './proxy';
import { RegEventNotifier, type NotifierReport } from './reg-notifier';
import { Registrar, type RegistrarEvent } from './registrar';
import { ThirdPartyRegistrations, type ThirdPartyResult } from './third-party';

export interface LabCoreOptions {
  domain: string;
  /** user name -> password */
  users: ReadonlyMap<string, string>;
  /** Application server for third-party REGISTER; none disables it. */
  appServerUri?: string;
  /** Where SUBSCRIBE / PUBLISH of the settings events are proxied. Default appServerUri. */
  settingsServerUri?: string;
  /** Event packages proxied to the settings server. Default `poc-settings`. */
  settingsEvents?: string[];
  triggerTags?: string[];
  minExpires?: number;
  maxExpires?: number;
  defaultExpires?: number;
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
  private readonly thirdParty?: ThirdPartyRegistrations;
  private readonly detach: Array<() => void> = [];

  constructor(
    private readonly endpoint: SipEndpoint,
    o: LabCoreOptions,
  ) {
    super();
    const scheduler = o.scheduler ?? realScheduler;
    this.location = new LocationService(scheduler);
    this.registrar = new Registrar({
      domain: o.domain,
      lookup: (u) => o.users.get(u),
      location: this.location,
      scheduler,
      minExpires: o.minExpires,
      maxExpires: o.maxExpires,
      defaultExpires: o.defaultExpires,
    });
    this.registrar.onAuthEvent = (e: RegistrarEvent) => this.emit('auth', e);
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
      lookup: (u) => o.users.get(u),
      location: this.location,
      scheduler,
      settingsServerUri: o.settingsServerUri || o.appServerUri,
      settingsEvents: o.settingsEvents,
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
      this.thirdParty?.onBindings(aor, events);
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
          if (!this.regEvents.handle(req)) req.respond(489, { headers: { 'allow-events': 'reg' } });
          return true;
        default:
          return false;
      }
    };
    this.detach.push(this.endpoint.addHandler(handler));
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
