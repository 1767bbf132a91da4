// Server node: deferred messages (seed 003 12.2.2.2, seed 004 7.2.6). Keeps
// what was sent to a user who could not take it (a pager MESSAGE the core
// routed here for an unregistered user, or a message from the flow), pushes
// it over INVITE and MSRP once the settings server says the user published
// offline delivery active (or refreshes it with messages waiting, or a message
// comes while it is active: lib/deferred/delivery-triggers.ts), and answers SUBSCRIBEs to deferred-message info
// with the list of what waits.
import * as path from 'node:path';
import { DeferredDelivery, type DeliveryReport, type MessageReport } from '../lib/deferred/delivery';
import { DEFAULT_DELIVERY_RETRY_INTERVAL, DeliveryTriggers, type SettingsEventName, type TriggerDecision } from '../lib/deferred/delivery-triggers';
import { DeferredMessageStore, type DeferredMessage, type DeferredMessageInput } from '../lib/deferred/message-store';
import { DeferredInfoServer, DEFAULT_DEFERRED_INFO_EVENT } from '../lib/server/deferred-info-server';
import { PagerIntake } from '../lib/server/pager-intake';
import type { ServerRefusal } from '../lib/server/refusal';
import type { IncomingRequest } from '../lib/sip/endpoint';
import { summarize } from '../lib/sip/summary';
import { eventPackage } from '../lib/subscription/notifier';
import { parseTrustedSources, TrustedSources } from '../lib/sip/trusted-sources';
import { normaliseIdentity } from '../lib/sip/uri';
import { JournalStore } from '../lib/store/journal-store';
import { MemoryStore } from '../lib/store/memory-store';
import type { KeyValueStore } from '../lib/store/store';
import { throttled, useEndpoint } from './common/endpoint-user';
import { translator } from './common/i18n';
import { exchangeSummary } from './common/registration-output';
import { answerTo, compact, flag, integer, text, type NodeDef, type NodeMessage, type RedApi, type RedNode } from './common/red';
import { failed, short, up, working } from './common/status';

const errorOf = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** The settings server's events: each says what the user's settings allow now. */
const SETTINGS_EVENTS = new Set<string>(['published', 'modified', 'refreshed', 'removed', 'expired'] satisfies SettingsEventName[]);

type Input =
  | { kind: 'store'; message: DeferredMessageInput }
  | { kind: 'settings'; aor: string; event: SettingsEventName; offlineDelivery: boolean | undefined }
  | { kind: 'deliver'; aor: string }
  | { kind: 'ignore' };

export = function (RED: RedApi): void {
  RED.nodes.registerType('oma-deliver-deferred', function (this: RedNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'oma-deliver-deferred');
    const node = this;
    let loadError: string | undefined;
    let lastTrouble: { text: string; fault: boolean } | undefined;
    const show = (): void => {
      if (!endpoint || endpoint.showTrouble()) return;
      if (loadError) return node.status(failed(t('oma-deliver-deferred.status.load-failed')));
      if (trusted.empty) return node.status(failed(t('oma-deliver-deferred.status.no-core')));
      if (!ready) return node.status(working(t('oma-deliver-deferred.status.loading')));
      const users = messages.users().length;
      const waiting = t('oma-deliver-deferred.status.waiting', { count: messages.size });
      const text = `${waiting} ${t('oma-deliver-deferred.status.users', { count: users })}`;
      if (!lastTrouble) return node.status(up(text));
      // The last session that ended short: red for a fault, else (busy, no answer) an outcome beside the count.
      const note = short(`${text}; ${lastTrouble.text}`);
      node.status(lastTrouble.fault ? failed(note) : up(note));
    };
    const status = throttled(show, 500, () => !ready || messages.size < 100);
    const endpoint = useEndpoint(RED, node, def, t, () => status.now());
    if (!endpoint) return;
    const config = endpoint.config;

    const { sources, errors } = parseTrustedSources(`${config.core} ${text(def, 'trustedCores')}`);
    for (const e of errors) node.warn(t('oma-deliver-deferred.errors.trusted', { error: e }));
    const trusted = new TrustedSources(sources);
    if (trusted.empty) node.error(t('oma-deliver-deferred.errors.no-core'));

    const persist = flag(def, 'persist', true);
    const userDir = RED.settings?.userDir;
    let store: KeyValueStore<DeferredMessage>;
    if (persist && userDir) {
      store = new JournalStore<DeferredMessage>(path.join(userDir, 'oma-sip', node.id), { onWarning: (m) => node.warn(m) });
    } else {
      if (persist) node.warn(t('oma-deliver-deferred.errors.no-user-dir'));
      store = new MemoryStore<DeferredMessage>();
    }
    const messages = new DeferredMessageStore({ store, maxMessageBytes: Math.max(1, integer(def, 'maxMessageBytes', 1024 * 1024)) });
    messages.on('store-error', (err: Error) => node.error(err));
    messages.on('change', () => status.now());

    const infoEvent = text(def, 'infoEvent', DEFAULT_DEFERRED_INFO_EVENT) || DEFAULT_DEFERRED_INFO_EVENT;
    const serverUri = text(def, 'serverIdentity') || `sip:im-server@${config.domain}`;
    const intake = new PagerIntake({ messages, trusted });
    let info: DeferredInfoServer | undefined;
    try {
      info = new DeferredInfoServer(config.endpoint, { messages, trusted, event: infoEvent });
    } catch (err) {
      node.error(errorOf(err).message);
    }
    // The callee may ring this long before the server CANCELs (5 s to an hour, as the editor checks).
    const answerTimeoutMs = Math.min(3600, Math.max(5, integer(def, 'answerTimeout', 60))) * 1000;
    const delivery = new DeferredDelivery({ endpoint: config.endpoint, messages, serverUri, answerTimeoutMs });

    const refused = (r: ServerRefusal): void => {
      const line = t('oma-deliver-deferred.log.refused', { method: r.method, status: r.status, reason: r.reason });
      if (r.status >= 500) node.error(line);
      else node.debug(line);
    };
    intake.on('refused', refused);
    info?.on('refused', refused);
    intake.on('stored', (m: DeferredMessage, req: IncomingRequest) => {
      node.send({ topic: m.recipient, payload: storedPayload(m), sip: summarize(req.message, 'in', req.wire) });
      const send = (out: NodeMessage): void => node.send(out);
      whenStored(m.recipient, undefined, send).catch((err: unknown) => node.error(errorOf(err)));
    });

    const sessions = new DeliveryTriggers({ retryInterval: Math.max(0, integer(def, 'retryInterval', DEFAULT_DELIVERY_RETRY_INTERVAL)) });
    // The input that started a delivery to a user: its reports answer it.
    const answering = new Map<string, NodeMessage>();
    // One message's failure is told on the output; the session's report says once why (node.error for faults).
    delivery.on('message', (r: MessageReport) => {
      const out: NodeMessage = { topic: r.aor, payload: compact({ event: r.status, aor: r.aor, id: r.id, from: r.sender, time: isoOf(r.time), error: r.error }) };
      node.send(answerTo(answering.get(r.aor), out));
    });

    let ready = false;
    let closed = false;
    const removeHandler = config.endpoint.addHandler((req) => {
      if (ready) return intake.handle(req) || (info?.handle(req) ?? false);
      const m = req.message;
      // Until the store is read, what this node would take gets 503 and comes again.
      if (m.headers.to.params.tag) return false;
      if (m.method !== 'MESSAGE' && !(m.method === 'SUBSCRIBE' && info && eventPackage(req) === info.event)) return false;
      req.respond(503, { headers: { 'retry-after': '5' } });
      return true;
    });
    const started = messages.load().then(() => {
      if (closed) return;
      ready = true;
      status.now();
    });
    started.catch((err: unknown) => {
      loadError = errorOf(err).message;
      node.error(t('oma-deliver-deferred.errors.load', { error: loadError }));
      status.now();
    });
    endpoint.attach();

    const noteSession = (report: DeliveryReport): void => {
      if (report.failure === 'closed') return;
      const user = report.aor.replace(/^sips?:/, '');
      lastTrouble = report.reason ? { text: t('oma-deliver-deferred.status.last', { user, reason: report.reason }), fault: report.failure === 'fault' } : undefined;
      status.now();
    };

    const decided = (aor: string, d: TriggerDecision): TriggerDecision => {
      node.debug(t('oma-deliver-deferred.log.plan', { aor, action: d.deliver ? 'deliver' : 'wait', reason: d.reason }));
      return d;
    };

    /**
     * A delivery session for `aor`, or the running one joined (its report
     * answers `input` too). The session that ends cleanly after a message
     * came during it starts the next one for that message.
     */
    const deliver = async (aor: string, input: NodeMessage | undefined, send: (m: NodeMessage) => void): Promise<void> => {
      const starts = !sessions.running(aor);
      if (starts) {
        sessions.started(aor);
        if (input) answering.set(aor, input);
      }
      let report: DeliveryReport;
      try {
        report = await delivery.deliver(aor);
      } finally {
        if (starts) answering.delete(aor);
      }
      const next = starts ? decided(aor, sessions.ended(aor, report.outcome === 'failed' || report.reason !== undefined, report.remaining)) : undefined;
      const out = answerTo(input, {
        topic: aor,
        payload: compact({
          event: 'session',
          aor,
          outcome: report.outcome,
          status: report.status,
          reason: report.reason,
          failure: report.failure,
          delivered: report.delivered,
          remaining: report.remaining,
          allow: report.allow,
          contact: report.contact,
        }),
        sip: exchangeSummary(report),
      });
      noteSession(report);
      // A Catch node gets what needs looking into: a session that broke. A busy or absent user is an outcome on the output.
      if (report.failure === 'fault') node.error(t('oma-deliver-deferred.errors.session', { aor, outcome: report.outcome, reason: report.reason ?? '' }), out);
      send(out);
      if (next?.deliver && !closed) deliver(aor, undefined, (m) => node.send(m)).catch((err: unknown) => node.error(errorOf(err)));
    };

    /** A message for `aor` is stored: delivered now when the user's settings allow it and no session runs. */
    const whenStored = async (aor: string, input: NodeMessage | undefined, send: (m: NodeMessage) => void): Promise<void> => {
      if (decided(aor, sessions.stored(aor, messages.count(aor))).deliver && !closed) await deliver(aor, input, send);
    };

    node.on('input', (msg, send, done) => {
      let input: Input;
      try {
        input = inputOf(msg, config.domain);
      } catch (e) {
        done(errorOf(e));
        return;
      }
      const work = async (): Promise<void> => {
        await started;
        await config.ready();
        switch (input.kind) {
          case 'store': {
            const m = await messages.add(input.message);
            send(answerTo(msg, { topic: m.recipient, payload: storedPayload(m) }));
            await whenStored(m.recipient, msg, send);
            return;
          }
          case 'settings': {
            const d = sessions.settings(input.aor, input.event, input.offlineDelivery, messages.count(input.aor));
            if (decided(input.aor, d).deliver) await deliver(input.aor, msg, send);
            return;
          }
          case 'deliver':
            decided(input.aor, sessions.requested(input.aor, messages.count(input.aor)));
            await deliver(input.aor, msg, send);
            return;
          case 'ignore':
            return;
        }
      };
      work().then(
        () => done(),
        (e: unknown) => done(errorOf(e)),
      );
    });

    node.on('close', (_removed, done) => {
      closed = true;
      status.cancel();
      started
        .catch(() => undefined)
        .then(async () => {
          removeHandler();
          info?.close();
          await delivery.close();
          messages.close();
          await store.close();
        })
        .catch((err: unknown) => node.error(errorOf(err)))
        .finally(() => {
          endpoint.detach();
          done();
        });
    });
  });
};

function storedPayload(m: DeferredMessage): Record<string, unknown> {
  return compact({ event: 'stored', id: m.id, to: m.recipient, from: m.sender, time: isoOf(m.receivedAt), contentType: m.contentType, size: m.size, subject: m.subject });
}

function isoOf(time: number | Date | string | undefined): string | undefined {
  if (time === undefined) return undefined;
  const d = time instanceof Date ? time : new Date(time);
  return Number.isFinite(d.getTime()) ? d.toISOString() : undefined;
}

function identityOf(v: unknown, what: string, domain: string): string {
  const s = typeof v === 'string' ? normaliseIdentity(v.trim(), domain) : undefined;
  if (!s) throw new Error(`msg.payload.${what} must be a user's address such as sip:alice@${domain || 'lab.test'}`);
  return s;
}

/** A message to store, the settings server's output, or {action: 'deliver', aor}. */
function inputOf(msg: NodeMessage, domain: string): Input {
  const p = msg.payload;
  if (!p || typeof p !== 'object' || Array.isArray(p)) {
    throw new Error('msg.payload must be a message {to, from, body}, the settings server’s output or {action: "deliver", aor}');
  }
  const r = p as Record<string, unknown>;
  if (r.action !== undefined) {
    if (r.action !== 'deliver') throw new Error(`unknown action ${JSON.stringify(r.action)}: use "deliver"`);
    return { kind: 'deliver', aor: identityOf(r.aor, 'aor', domain) };
  }
  if (typeof r.event === 'string') {
    if (!SETTINGS_EVENTS.has(r.event)) return { kind: 'ignore' };
    const od = r.offlineDelivery;
    return { kind: 'settings', aor: identityOf(r.aor, 'aor', domain), event: r.event as SettingsEventName, offlineDelivery: typeof od === 'boolean' ? od : undefined };
  }
  if (typeof r.body !== 'string' && !Buffer.isBuffer(r.body)) throw new Error('msg.payload.body must be text or a Buffer');
  if (r.contentType !== undefined && typeof r.contentType !== 'string') throw new Error('msg.payload.contentType must be a media type such as text/plain');
  if (r.subject !== undefined && typeof r.subject !== 'string') throw new Error('msg.payload.subject must be text');
  if (r.time !== undefined && typeof r.time !== 'string' && typeof r.time !== 'number' && !(r.time instanceof Date)) {
    throw new Error('msg.payload.time must be an RFC 3339 time or ms since the epoch');
  }
  return {
    kind: 'store',
    message: compact({
      recipient: identityOf(r.to, 'to', domain),
      sender: identityOf(r.from, 'from', domain),
      contentType: (r.contentType as string | undefined) ?? 'text/plain;charset=utf-8',
      body: r.body as string | Buffer,
      subject: r.subject as string | undefined,
      time: r.time as string | number | Date | undefined,
    }) as DeferredMessageInput,
  };
}
