// Server node: answers the core's third-party REGISTER (seed 003 5.3) and reports users.
import { requestCause } from './common/sip-cause';
import { DEFAULT_MAX_EXPIRES, DEFAULT_MAX_USERS, ThirdPartyRegisterServer, type ThirdPartyEvent } from '../lib/server/third-party-register';
import type { IncomingRequest } from '../lib/sip/endpoint';
import { parseTrustedSources, TrustedSources } from '../lib/sip/trusted-sources';
import { afterGoodbyes, useEndpoint } from './common/endpoint-user';
import { translator } from './common/i18n';
import { compact, integer, text, type NodeDef, type RedApi, type RedNode } from './common/red';
import { failed, idle, up } from './common/status';

export = function (RED: RedApi): void {
  RED.nodes.registerType('oma-third-party-register', function (this: RedNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'oma-third-party-register');
    const node = this;
    const showStatus = (): void => {
      if (!endpoint || endpoint.showTrouble()) return;
      if (trusted.empty) return node.status(failed(t('oma-third-party-register.status.no-core')));
      const n = server.registered().length;
      node.status(n ? up(t('oma-third-party-register.status.users', { count: n })) : idle(t('oma-third-party-register.status.waiting', { hostPort: endpoint.config.endpoint.hostPort })));
    };
    const endpoint = useEndpoint(RED, node, def, t, showStatus);
    if (!endpoint) return;

    let closing = false;
    let lastRegisterAt = 0;
    // The endpoint's own core, plus the addresses typed in the node (a core with several interfaces, a second core).
    const { sources, errors } = parseTrustedSources(`${endpoint.config.core} ${text(def, 'trustedCores')}`);
    for (const e of errors) node.warn(t('oma-third-party-register.errors.trusted', { error: e }));
    const trusted = new TrustedSources(sources);
    if (trusted.empty) node.error(t('oma-third-party-register.errors.no-core'));
    const server = new ThirdPartyRegisterServer({
      trusted,
      maxExpires: integer(def, 'maxExpires', DEFAULT_MAX_EXPIRES),
      maxUsers: integer(def, 'maxUsers', DEFAULT_MAX_USERS),
    });
    // Refusals are logged at most once a minute: a flood must not become a flood of log lines.
    let lastRefusalLog = 0;
    server.on('refused', (reason: string) => {
      const now = Date.now();
      if (now - lastRefusalLog < 60_000) return;
      lastRefusalLog = now;
      node.warn(t('oma-third-party-register.errors.refused', { reason }));
    });
    server.on('event', (e: ThirdPartyEvent, req: IncomingRequest | undefined) => {
      if (closing) return; // the flow is being torn down: answer, report nothing
      showStatus();
      node.send({ topic: e.user, payload: compact({ ...e }), sip: requestCause(req, e.event) });
    });
    const removeHandler = endpoint.config.endpoint.addHandler((req) => {
      if (req.message.method !== 'REGISTER') return false;
      lastRegisterAt = Date.now();
      server.handle(req);
      return true;
    });
    endpoint.attach();

    // Clients closing with us de-register now; keep answering the core's third-party REGISTERs until they are done.
    node.on('close', (_removed, done) => {
      closing = true;
      void afterGoodbyes(() => lastRegisterAt).then(() => {
        removeHandler();
        server.close();
        endpoint.detach();
        done();
      });
    });
  });
};
