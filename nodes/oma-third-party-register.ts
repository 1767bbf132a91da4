// Server node: answers the core's third-party REGISTER (seed 003 5.3) and reports users.
import { ThirdPartyRegisterServer, type ThirdPartyEvent } from '../lib/server/third-party-register';
import type { IncomingRequest } from '../lib/sip/endpoint';
import { summarize } from '../lib/sip/summary';
import { afterGoodbyes, useEndpoint } from './common/endpoint-user';
import { translator } from './common/i18n';
import { compact, type NodeDef, type RedApi, type RedNode } from './common/red';
import { idle, up } from './common/status';

export = function (RED: RedApi): void {
  RED.nodes.registerType('oma-third-party-register', function (this: RedNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'oma-third-party-register');
    const node = this;
    const server = new ThirdPartyRegisterServer();
    const showStatus = (): void => {
      if (!endpoint || endpoint.showTrouble()) return;
      const n = server.registered().length;
      node.status(n ? up(t('oma-third-party-register.status.users', { count: n })) : idle(t('oma-third-party-register.status.waiting', { hostPort: endpoint.config.endpoint.hostPort })));
    };
    const endpoint = useEndpoint(RED, node, def, t, showStatus);
    if (!endpoint) return;

    let closing = false;
    let lastRegisterAt = 0;
    server.on('event', (e: ThirdPartyEvent, req: IncomingRequest | undefined) => {
      if (closing) return; // the flow is being torn down: answer, report nothing
      showStatus();
      node.send({ topic: e.user, payload: compact({ ...e }), sip: req ? summarize(req.message, 'in', req.wire) : undefined });
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
