// Config node: one user identity with its credentials and enabler.
import { CPM_MODES, ENABLERS, parseFeatureTags, type CpmMode, type Enabler } from '../lib/registration/enablers';
import type { Params } from '../lib/sip/message';
import type { UserConfig } from './common/user-link';
import { translator } from './common/i18n';
import { installationId, instanceUuid } from './common/installation-id';
import { text, type NodeDef, type RedApi, type RedNode } from './common/red';

export = function (RED: RedApi): void {
  RED.nodes.registerType(
    'oma-sip-user',
    function (this: RedNode, def: NodeDef) {
      RED.nodes.createNode(this, def);
    const t = translator(RED, 'oma-sip-user');
      const enabler = (ENABLERS as readonly string[]).includes(text(def, 'enabler')) ? (text(def, 'enabler') as Enabler) : 'poc';
      const modes = text(def, 'cpmModes', CPM_MODES.join(','))
        .split(',')
        .map((m) => m.trim())
        .filter((m): m is CpmMode => (CPM_MODES as readonly string[]).includes(m));
      let extraTags: Params = {};
      try {
        extraTags = parseFeatureTags(text(def, 'extraTags'));
      } catch (e) {
        this.error(t('oma-sip-user.errors.tags', { error: (e as Error).message }));
      }
      const user: UserConfig = {
        identity: text(def, 'identity'),
        authUser: text(def, 'authUser'),
        password: this.credentials?.password ?? '',
        displayName: text(def, 'displayName'),
        enabler,
        release: text(def, 'release'),
        instanceId: text(def, 'instanceId') || instanceUuid(installationId(RED.settings?.userDir), def.id),
        cpmModes: modes.length ? modes : [...CPM_MODES],
        extraTags,
      };
      (this as unknown as { omaUser: UserConfig }).omaUser = user;
    },
    { credentials: { password: { type: 'password' } } },
  );
};
