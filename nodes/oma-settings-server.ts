// Server node: the PoC / IM server's service settings (seed 003 6.1.1.5, seed
// 002 steps 16-32). Answers PUBLISH and SUBSCRIBE `poc-settings` that the core
// routes to the server's endpoint, keeps the settings (in files under the
// Node-RED user directory unless told not to) and outputs every accepted
// publication and expiry, which the deferred-delivery flow wires from.
import { requestCause } from './common/sip-cause';
import * as path from 'node:path';
import { SettingsServer, takesSettingsRequest, type SettingsEvent, type SettingsEventKind, type SettingsRefusal } from '../lib/server/settings-server';
import { Publications, type StoredPublication } from '../lib/settings/publications';
import type { IncomingRequest } from '../lib/sip/endpoint';
import { parseTrustedSources, TrustedSources } from '../lib/sip/trusted-sources';
import { JournalStore } from '../lib/store/journal-store';
import { MemoryStore } from '../lib/store/memory-store';
import type { KeyValueStore } from '../lib/store/store';
import { throttled, useEndpoint } from './common/endpoint-user';
import { translator } from './common/i18n';
import { flag, integer, text, type NodeDef, type RedApi, type RedNode } from './common/red';
import { failed, up, working } from './common/status';

/** Output event names: what happened, in the words of the help text. */
const EVENT_NAMES: Record<SettingsEventKind, string> = {
  initial: 'published',
  modify: 'modified',
  refresh: 'refreshed',
  remove: 'removed',
  expired: 'expired',
};

const errorOf = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

export = function (RED: RedApi): void {
  RED.nodes.registerType('oma-settings-server', function (this: RedNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'oma-settings-server');
    const node = this;
    let server: SettingsServer | undefined;
    let loadError: string | undefined;
    const show = (): void => {
      if (!endpoint || endpoint.showTrouble()) return;
      if (loadError) return node.status(failed(t('oma-settings-server.status.load-failed')));
      if (trusted.empty) return node.status(failed(t('oma-settings-server.status.no-core')));
      if (!server) return node.status(working(t('oma-settings-server.status.loading')));
      node.status(up(`${t('oma-settings-server.status.users', { count: server.users })}, ${t('oma-settings-server.status.watchers', { count: server.watchers })}`));
    };
    // Every publication redraws: a translated status per PUBLISH would cost more than the PUBLISH.
    const status = throttled(show, 500, () => false);
    const endpoint = useEndpoint(RED, node, def, t, () => status.now());
    if (!endpoint) return;

    // The endpoint's own core, plus the addresses typed in the node (as the third-party register node does).
    const { sources, errors } = parseTrustedSources(`${endpoint.config.core} ${text(def, 'trustedCores')}`);
    for (const e of errors) node.warn(t('oma-settings-server.errors.trusted', { error: e }));
    const trusted = new TrustedSources(sources);
    if (trusted.empty) node.error(t('oma-settings-server.errors.no-core'));

    const persist = flag(def, 'persist', true);
    const userDir = RED.settings?.userDir;
    let store: KeyValueStore<StoredPublication>;
    if (persist && userDir) {
      // A journal with group commit: every 200 OK is durable, and PUBLISHes in flight share one fsync.
      store = new JournalStore<StoredPublication>(path.join(userDir, 'oma-sip', node.id), { onWarning: (m) => node.warn(m) });
    } else {
      if (persist) node.warn(t('oma-settings-server.errors.no-user-dir'));
      store = new MemoryStore<StoredPublication>();
    }
    const publications = new Publications({
      store,
      minExpires: integer(def, 'minExpires', 60),
      maxExpires: integer(def, 'maxExpires', 7200),
    });
    publications.on('store-error', (err: Error) => node.error(err));
    publications.on('listener-error', (err: Error) => node.error(err));

    let closed = false;
    // Requests that arrive while the store loads wait for it (a few ms to a second), rather than
    // meeting a 405 that a client takes as final; past a bound they get 503 with Retry-After.
    const waiting: IncomingRequest[] = [];
    const MAX_WAITING = 1000;
    const removeHandler = endpoint.config.endpoint.addHandler((req) => {
      if (server) return server.handle(req);
      if (!takesSettingsRequest(req)) return false;
      if (loadError || waiting.length >= MAX_WAITING) req.respond(503, { headers: { 'retry-after': '5' } });
      else waiting.push(req);
      return true;
    });
    const featureTags = text(def, 'featureTags', '+g.poc.talkburst +g.oma.sip-im').split(/[\s,]+/).filter(Boolean);
    const watchAll = text(def, 'watchAll').split(/[\s,]+/).filter(Boolean);

    const started = publications.load().then(() => {
      if (closed) return;
      const s = new SettingsServer(endpoint.config.endpoint, {
        publications,
        trusted,
        featureTags: featureTags.length ? featureTags : undefined,
        watchAll,
      });
      s.on('settings', (e: SettingsEvent, req: IncomingRequest | undefined) => {
        status.now();
        node.send({
          topic: e.aor,
          payload: { event: EVENT_NAMES[e.kind], aor: e.aor, by: e.by, settings: e.settingsView, offlineDelivery: e.offlineDelivery },
          sip: requestCause(req, EVENT_NAMES[e.kind]),
        });
      });
      s.on('subscription', () => status.now());
      s.on('refused', (r: SettingsRefusal) => {
        const line = t('oma-settings-server.log.refused', { method: r.method, status: r.status, reason: r.reason });
        if (r.status >= 500) node.error(line);
        else node.debug(line);
      });
      server = s;
      for (const req of waiting.splice(0)) if (!s.handle(req) && !req.responded) req.respond(405);
      status.now();
    });
    started.catch((err: unknown) => {
      loadError = errorOf(err).message;
      for (const req of waiting.splice(0)) req.respond(503, { headers: { 'retry-after': '5' } });
      node.error(t('oma-settings-server.errors.load', { error: loadError }));
      status.now();
    });
    endpoint.attach();

    node.on('close', (_removed, done) => {
      closed = true;
      status.cancel();
      const finish = (): void => {
        endpoint.detach();
        done();
      };
      started
        .catch(() => undefined)
        .then(async () => {
          removeHandler();
          for (const req of waiting.splice(0)) req.respond(503, { headers: { 'retry-after': '5' } });
          // Watchers hear `deactivated` and subscribe again to whoever serves next.
          server?.close();
          publications.close();
          await publications.idle();
          await store.close();
        })
        .catch((err: unknown) => node.error(errorOf(err)))
        .finally(finish);
    });
  });
};
