// Client node: publishes the user's service settings (PUBLISH poc-settings,
// seed 003 5.2.4, RFC 3903) after each initial registration, keeps the
// publication refreshed, and modifies or removes it on input.
import { SettingsPublisher, type PublicationChange } from '../lib/settings/publisher';
import { documentView, entityFromInput } from '../lib/settings/settings-input';
import type { SettingsEntity } from '../lib/settings/settings-types';
import type { Enabler } from '../lib/registration/enablers';
import { closeGracefully } from './common/endpoint-user';
import { translator } from './common/i18n';
import { compact, integer, flag, text, type NodeDef, type NodeMessage, type RedApi, type RedNode } from './common/red';
import { exchangeSummary } from './common/registration-output';
import { authUserOf, entityIdOf, useUserEndpoint } from './common/settings-client';
import { failed, idle, short, up, working } from './common/status';

type PublishEvent = 'published' | 'modified' | 'refreshed' | 'removed' | 'failed';

const EVENTS: Record<string, PublishEvent> = { publish: 'published', modify: 'modified', refresh: 'refreshed', remove: 'removed' };

/** Editor fields of the PoC settings (RFC 4354) and the IM settings (seed 003 5.2.4 a-f). */
const POC_FIELDS = { pocIsb: 'incomingSessionBarring', pocAnswerMode: 'answerMode', pocIpab: 'incomingPersonalAlertBarring', pocSss: 'simultaneousSessions' } as const;
const IM_FIELDS = {
  imIsb: 'incomingSessionBarring',
  imPagerBarring: 'incomingPagerLargeModeBarring',
  imInvisibility: 'invisibility',
  imOfflineDelivery: 'offlineDelivery',
  imHistorySession: 'historySessionMode',
  imHistoryPager: 'historyPagerLargeMode',
} as const;

/** The editor's settings as settings input: the set that fits the enabler, empty fields left out. */
function editorSettings(def: NodeDef, enabler: Enabler): Record<string, unknown> {
  const pick = (fields: Record<string, string>) => Object.fromEntries(Object.entries(fields).map(([field, key]) => [key, text(def, field)]));
  return enabler === 'poc' ? pick(POC_FIELDS) : { im: pick(IM_FIELDS) };
}

function eventOf(c: PublicationChange): PublishEvent | undefined {
  if (c.exchanges.length === 0 || !c.action) return undefined;
  return c.info.state === 'failed' ? 'failed' : EVENTS[c.action];
}

type Command =
  | { kind: 'publish'; entity: SettingsEntity; registration?: { expires?: number; serviceRoute?: string[] } }
  | { kind: 'refresh' | 'remove' | 'stop' | 'nothing' };

export = function (RED: RedApi): void {
  RED.nodes.registerType('oma-publish-settings', function (this: RedNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'oma-publish-settings');
    const node = this;
    const client = useUserEndpoint(RED, node, def, t, () => showStatus());
    if (!client) return;
    const { endpoint, user, aor } = client;
    const config = endpoint.config;
    const entityId = entityIdOf(def, user, aor);
    let configured: SettingsEntity | undefined;
    let configError: string | undefined;
    try {
      configured = entityFromInput(editorSettings(def, user.enabler), entityId);
    } catch (e) {
      configError = (e as Error).message;
      node.error(t('oma-publish-settings.errors.editor', { error: configError }));
    }
    const fixedExpires = integer(def, 'expires', 0);
    const publisher = new SettingsPublisher(config.endpoint, {
      aor,
      username: authUserOf(user, aor),
      password: user.password,
      enabler: user.enabler,
      release: user.release || undefined,
      expires: fixedExpires > 0 ? fixedExpires : undefined,
    });
    let lastError: string | undefined;

    const showStatus = (): void => {
      if (endpoint.showTrouble()) return;
      const cur = publisher.current;
      switch (cur.state) {
        case 'published':
          return node.status(up(t('oma-publish-settings.status.published', { expires: cur.expires ?? 0 })));
        case 'publishing':
        case 'refreshing':
        case 'modifying':
        case 'removing':
          return node.status(working(t(`oma-publish-settings.status.${cur.state}`)));
        case 'removed':
          return node.status(idle(t('oma-publish-settings.status.removed')));
        case 'failed':
          return node.status(failed(short(cur.error ?? t('oma-publish-settings.status.failed'))));
        default:
          return node.status(configError ? failed(t('oma-publish-settings.status.editor-error')) : idle(t('oma-publish-settings.status.idle')));
      }
    };

    const output = (c: PublicationChange, event: PublishEvent, from?: NodeMessage): NodeMessage => ({
      ...(from ?? { topic: aor }),
      payload: compact({
        event,
        aor,
        etag: c.info.etag,
        expires: c.info.expires,
        settings: c.info.entity ? documentView({ entities: [c.info.entity] }).entities[0] : undefined,
        error: c.info.error,
      }),
      sip: exchangeSummary(c),
    });

    publisher.on('change', (c: PublicationChange) => {
      showStatus();
      // Answers to input are sent by the input handler, with the input's properties.
      if (!c.byTimer) return;
      const event = eventOf(c);
      if (!event) return;
      if (event === 'failed') {
        if (c.info.error !== lastError) node.error(t('oma-publish-settings.errors.failed', { aor, error: c.info.error ?? '' }));
        lastError = c.info.error;
      } else lastError = undefined;
      node.send(output(c, event));
    });

    endpoint.attach();
    showStatus();

    const run = async (cmd: Command): Promise<PublicationChange | undefined> => {
      await config.ready();
      switch (cmd.kind) {
        case 'publish':
          if (cmd.registration) publisher.follow({ expires: fixedExpires > 0 ? undefined : cmd.registration.expires, serviceRoute: cmd.registration.serviceRoute });
          return publisher.publish(cmd.entity);
        case 'refresh':
          return publisher.refresh();
        case 'remove':
          return publisher.remove();
        case 'stop':
          publisher.stop();
          return undefined;
        case 'nothing':
          return undefined;
      }
    };

    node.on('input', (msg, send, done) => {
      let cmd: Command;
      try {
        cmd = commandOf(msg, aor, entityId, () => {
          if (!configured) throw new Error(t('oma-publish-settings.errors.editor', { error: configError ?? '' }));
          return configured;
        });
      } catch (e) {
        done(e as Error);
        return;
      }
      run(cmd).then(
        (c) => {
          showStatus();
          const event = c && eventOf(c);
          if (!c || !event) return done();
          send(output(c, event, msg));
          lastError = c.info.error;
          if (event === 'failed') done(new Error(t('oma-publish-settings.errors.failed', { aor, error: c.info.error ?? '' })));
          else done();
        },
        (e: Error) => done(e),
      );
    });

    const removeOnClose = flag(def, 'removeOnClose', true);
    closeGracefully(
      node,
      endpoint,
      () => {
        let timer: NodeJS.Timeout | undefined;
        const bounded = new Promise<void>((r) => (timer = setTimeout(r, 4000)));
        return Promise.race([publisher.close(removeOnClose), bounded]).finally(() => clearTimeout(timer));
      },
      () => publisher.stop(),
    );
  });
};

/**
 * What a message asks for: the register node's output (`registered` publishes
 * the editor's settings, other events do nothing but a de-registration, which
 * stops refreshing), an action word, or a settings object.
 */
function commandOf(msg: NodeMessage, aor: string, entityId: string, editor: () => SettingsEntity): Command {
  const p = msg.payload;
  if (typeof p === 'string') {
    const word = p.trim().toLowerCase();
    if (word === 'remove' || word === 'refresh') return { kind: word };
    if (word === 'publish') return { kind: 'publish', entity: editor() };
    throw new Error(`unknown action "${p}": use publish, refresh or remove, or send the settings as an object`);
  }
  if (p && typeof p === 'object' && !Array.isArray(p) && typeof (p as Record<string, unknown>).event === 'string') {
    const r = p as Record<string, unknown>;
    // A register node may serve many users: only ours concern us.
    if (typeof r.aor === 'string' && r.aor !== aor) return { kind: 'nothing' };
    switch (r.event) {
      case 'registered':
        return {
          kind: 'publish',
          entity: editor(),
          registration: {
            expires: typeof r.expires === 'number' ? r.expires : undefined,
            serviceRoute: Array.isArray(r.serviceRoute) ? r.serviceRoute.filter((x): x is string => typeof x === 'string') : undefined,
          },
        };
      case 'deregistered':
      case 'service-deregistered':
        return { kind: 'stop' };
      default:
        return { kind: 'nothing' }; // refreshed, failed: the publication goes on as it is
    }
  }
  if (p && typeof p === 'object' && !Array.isArray(p)) return { kind: 'publish', entity: entityFromInput(p, entityId) };
  throw new Error('msg.payload must be the register node’s output, an action word (publish, refresh, remove) or a settings object');
}
