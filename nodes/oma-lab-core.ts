// Lab node: an embedded SIP/IP core (registrar, location, third-party REGISTER).
import { DEFAULT_TRIGGER_TAGS, LabCore, type BindingReport } from '../lib/labcore/lab-core';
import type { NotifierReport } from '../lib/labcore/reg-notifier';
import type { RegistrarEvent } from '../lib/labcore/registrar';
import type { ThirdPartyResult } from '../lib/labcore/third-party';
import { endpointConfig, type EndpointState } from './common/endpoint-link';
import { parseUsers } from '../lib/labcore/users';
import { translator } from './common/i18n';
import { integer, text, type NodeDef, type RedApi, type RedNode } from './common/red';
import { failed, short, up, working } from './common/status';

export = function (RED: RedApi): void {
  RED.nodes.registerType(
    'oma-lab-core',
    function (this: RedNode, def: NodeDef) {
      RED.nodes.createNode(this, def);
    const t = translator(RED, 'oma-lab-core');
      const node = this;
      const endpoint = endpointConfig(RED, def.endpoint);
      if (!endpoint) {
        node.status(failed(t('oma-lab-core.status.no-endpoint')));
        node.error(t('oma-lab-core.errors.no-endpoint'));
        return;
      }
      const { users, errors } = parseUsers(this.credentials?.users ?? '');
      for (const e of errors) node.warn(t('oma-lab-core.errors.user-line', { error: e }));
      const asHost = text(def, 'appServerHost');
      const asPort = integer(def, 'appServerPort', 5070);
      const asTransport = text(def, 'appServerTransport', 'udp') === 'tcp' ? ';transport=tcp' : '';
      const tags = text(def, 'triggerTags', DEFAULT_TRIGGER_TAGS.join(' '))
        .split(/[\s,;]+/)
        .filter(Boolean);
      const core = new LabCore(endpoint.endpoint, {
        domain: text(def, 'domain') || endpoint.domain,
        users,
        appServerUri: asHost ? `sip:${asHost}:${asPort}${asTransport}` : undefined,
        triggerTags: tags,
        minExpires: integer(def, 'minExpires', 60),
        maxExpires: integer(def, 'maxExpires', 3600),
      });
      let endpointState: EndpointState = endpoint.state;
      const showStatus = (): void => {
        if (endpointState.kind === 'failed') return node.status(failed(short(t('oma-lab-core.status.endpoint-failed', { error: endpointState.error }))));
        if (endpointState.kind !== 'listening') return node.status(working(t('oma-lab-core.status.starting')));
        node.status(up(t('oma-lab-core.status.running', { hostPort: endpointState.hostPort, count: core.registeredUsers })));
      };
      core.on('binding', (b: BindingReport) => {
        showStatus();
        node.send({
          topic: b.aor,
          payload: {
            kind: 'binding',
            event: b.event,
            aor: b.aor,
            contact: b.binding.uri,
            expires: b.event === 'expired' || b.event === 'unregistered' ? 0 : b.binding.expires,
            featureTags: Object.keys(b.binding.params).filter((k) => k.startsWith('+')),
            instance: b.binding.instance,
          },
        });
      });
      core.on('subscription', (r: NotifierReport) => {
        node.send({ topic: r.aor, payload: { kind: 'subscription', package: 'reg', ...r } });
      });
      core.on('third-party', (r: ThirdPartyResult) => {
        if (r.status >= 300) node.warn(t('oma-lab-core.errors.third-party', { aor: r.aor, status: r.status, reason: r.reason }));
      });
      core.on('auth', (e: RegistrarEvent) => {
        if (e.kind === 'rejected') node.warn(t('oma-lab-core.errors.auth', { user: e.user, reason: e.reason ?? '' }));
      });
      core.start();
      const link = {
        onEndpointState(state: EndpointState) {
          endpointState = state;
          showStatus();
        },
      };
      endpoint.attach(link);
      node.on('close', (_removed, done) => {
        core.stop(1500).finally(() => {
          endpoint.detach(link);
          done();
        });
      });
    },
    { credentials: { users: { type: 'text' } } },
  );
};
