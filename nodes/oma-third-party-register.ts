// Server node: answers the core's third-party REGISTER (seed 003 5.3) and reports users.
import { ThirdPartyRegisterServer, type ThirdPartyEvent } from '../lib/server/third-party-register';
import type { IncomingRequest } from '../lib/sip/endpoint';
import { summarize } from '../lib/sip/summary';
import { endpointConfig, type EndpointState } from './common/endpoint-link';
import { translator } from './common/i18n';
import type { NodeDef, RedApi, RedNode } from './common/red';
import { failed, idle, short, up, working } from './common/status';

export = function (RED: RedApi): void {
  RED.nodes.registerType('oma-third-party-register', function (this: RedNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'oma-third-party-register');
    const node = this;
    const endpoint = endpointConfig(RED, def.endpoint);
    if (!endpoint) {
      node.status(failed(t('oma-third-party-register.status.no-endpoint')));
      node.error(t('oma-third-party-register.errors.no-endpoint'));
      return;
    }
    const server = new ThirdPartyRegisterServer();
    let endpointState: EndpointState = endpoint.state;

    const showStatus = (): void => {
      if (endpointState.kind === 'failed') return node.status(failed(short(t('oma-third-party-register.status.endpoint-failed', { error: endpointState.error }))));
      if (endpointState.kind !== 'listening') return node.status(working(t('oma-third-party-register.status.starting')));
      const n = server.registered().length;
      node.status(n ? up(t('oma-third-party-register.status.users', { count: n })) : idle(t('oma-third-party-register.status.waiting', { hostPort: endpointState.hostPort })));
    };

    server.on('event', (e: ThirdPartyEvent, req: IncomingRequest | undefined) => {
      showStatus();
      node.send({
        topic: e.user,
        payload: { ...e },
        sip: req ? summarize(req.message, 'in', req.wire) : undefined,
      });
    });

    const removeHandler = endpoint.endpoint.addHandler((req) => {
      if (req.message.method !== 'REGISTER') return false;
      server.handle(req);
      return true;
    });
    const link = {
      onEndpointState(state: EndpointState) {
        endpointState = state;
        showStatus();
      },
    };
    endpoint.attach(link);

    node.on('close', (_removed, done) => {
      removeHandler();
      server.close();
      endpoint.detach(link);
      done();
    });
  });
};
