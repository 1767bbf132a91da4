// Lab node: an embedded SIP/IP core (registrar, location, third-party REGISTER, reg event).
import { DEFAULT_TRIGGER_TAGS, LabCore, type BindingReport } from '../lib/labcore/lab-core';
import type { NotifierReport } from '../lib/labcore/reg-notifier';
import { WITH_SHA256, type RegistrarEvent } from '../lib/labcore/registrar';
import type { ThirdPartyResult } from '../lib/labcore/third-party';
import { parseUsers } from '../lib/labcore/users';
import { parseUri } from '../lib/sip/uri';
import { useEndpoint } from './common/endpoint-user';
import { labUsers } from './common/lab-users';
import { translator } from './common/i18n';
import { compact, flag, integer, text, type NodeDef, type RedApi, type RedNode } from './common/red';
import { failed, short, up } from './common/status';

export = function (RED: RedApi): void {
  RED.nodes.registerType(
    'oma-lab-core',
    function (this: RedNode, def: NodeDef) {
      RED.nodes.createNode(this, def);
      const t = translator(RED, 'oma-lab-core');
      const node = this;
      const showStatus = (): void => {
        if (!endpoint || endpoint.showTrouble()) return;
        node.status(up(t('oma-lab-core.status.running', { hostPort: endpoint.config.endpoint.hostPort, count: core.registeredUsers })));
      };
      const settingsServerUri = text(def, 'settingsServer') || undefined;
      if (settingsServerUri && parseUri(settingsServerUri)?.scheme !== 'sip') {
        node.error(t('oma-lab-core.errors.settings-server', { uri: settingsServerUri }));
        node.status(failed(short(t('oma-lab-core.errors.settings-server', { uri: settingsServerUri }))));
        return;
      }
      const endpoint = useEndpoint(RED, node, def, t, showStatus);
      if (!endpoint) return;
      const { users, errors } = parseUsers(this.credentials?.users ?? '');
      for (const e of errors) node.warn(t('oma-lab-core.errors.user-line', { error: e }));
      const asHost = text(def, 'appServerHost');
      const asPort = integer(def, 'appServerPort', 5070);
      const asTransport = text(def, 'appServerTransport', 'udp') === 'tcp' ? ';transport=tcp' : '';
      const domain = text(def, 'domain') || endpoint.config.domain;
      const directory = labUsers(RED, domain, users, flag(def, 'sipUsers', true));
      const core = new LabCore(endpoint.config.endpoint, {
        domain,
        users: directory,
        appServerUri: asHost ? `sip:${asHost}:${asPort}${asTransport}` : undefined,
        settingsServerUri,
        settingsEvents: text(def, 'settingsEvents', 'poc-settings deferred-messages').split(/[\s,;]+/).filter(Boolean),
        triggerTags: text(def, 'triggerTags', DEFAULT_TRIGGER_TAGS.join(' ')).split(/[\s,;]+/).filter(Boolean),
        minExpires: integer(def, 'minExpires', 60),
        maxExpires: integer(def, 'maxExpires', 3600),
        algorithms: flag(def, 'sha256', false) ? WITH_SHA256 : undefined,
        appServerSources: asHost ? [{ host: asHost, port: asPort }] : [],
      });
      core.on('binding', (b: BindingReport) => {
        showStatus();
        node.send({
          topic: b.aor,
          payload: compact({
            kind: 'binding',
            event: b.event,
            aor: b.aor,
            contact: b.binding.uri,
            expires: b.event === 'expired' || b.event === 'unregistered' ? 0 : b.binding.expires,
            featureTags: Object.keys(b.binding.params).filter((k) => k.startsWith('+')),
            instance: b.binding.instance,
          }),
        });
      });
      core.on('subscription', (r: NotifierReport) => node.send({ topic: r.aor, payload: compact({ kind: 'subscription', package: 'reg', ...r }) }));
      core.on('third-party', (r: ThirdPartyResult) => {
        if (r.status >= 300) node.warn(t('oma-lab-core.errors.third-party', { aor: r.aor, status: r.status, reason: r.reason }));
      });
      core.on('auth', (e: RegistrarEvent) => {
        if (e.kind === 'rejected') node.warn(t('oma-lab-core.errors.auth', { user: e.user, reason: e.reason ?? '', count: e.count ?? 1 }));
      });
      core.start();
      endpoint.attach();
      node.on('close', (_removed, done) => {
        // The clients' de-REGISTERs of this stop are answered with the users they registered as.
        directory.freeze();
        core.stop(1500).finally(() => {
          endpoint.detach();
          done();
        });
      });
    },
    // A password credential: the admin API says only that it is set (has_users),
    // never its text. Flows saved when it was a text credential keep their value.
    { credentials: { users: { type: 'password' } } },
  );
};
