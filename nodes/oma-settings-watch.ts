// Client node: SUBSCRIBE to the user's poc-settings (seed 002 steps 16-23 and
// 29-31) and output the settings, with who set them, on every NOTIFY, so a
// flow can resolve conflicts between two clients of one user.
import { changeCause } from './common/sip-cause';
import { userAgentFor } from '../lib/registration/enablers';
import { documentView } from '../lib/settings/settings-input';
import { SettingsWatch, type SettingsProblem, type SettingsUpdate } from '../lib/settings/settings-watch';
import { summarize } from '../lib/sip/summary';
import type { SubscriptionChange } from '../lib/subscription/subscriber';
import { closeGracefully } from './common/endpoint-user';
import { translator } from './common/i18n';
import { compact, flag, integer, type NodeDef, type NodeMessage, type RedApi, type RedNode } from './common/red';
import { authUserOf, entityIdOf, useUserEndpoint } from './common/settings-client';
import { failed, idle, short, up, working } from './common/status';

type Command = { action: 'subscribe' | 'refresh' | 'unsubscribe' | 'nothing'; routeSet?: string[] };

/** Register outputs say what happened to the user; map that to what to do. */
const EVENT_ACTIONS: Record<string, Command['action']> = {
  registered: 'subscribe',
  refreshed: 'subscribe',
  deregistered: 'unsubscribe',
  'service-deregistered': 'unsubscribe',
};

export = function (RED: RedApi): void {
  RED.nodes.registerType('oma-settings-watch', function (this: RedNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'oma-settings-watch');
    const node = this;
    const client = useUserEndpoint(RED, node, def, t, () => showStatus());
    if (!client) return;
    const { endpoint, user, aor } = client;
    const config = endpoint.config;
    const ownEntityId = entityIdOf(def, user, aor);
    const expires = integer(def, 'expires', 3600);
    let watch: SettingsWatch | undefined;
    let lastEntities = 0;
    let lastEmpty = true;

    const showStatus = (): void => {
      if (endpoint.showTrouble()) return;
      const cur = watch?.subscriber.current;
      switch (cur?.state) {
        case 'active':
          return node.status(up(lastEmpty ? t('oma-settings-watch.status.empty') : t('oma-settings-watch.status.active', { count: lastEntities })));
        case 'pending':
        case 'subscribing':
          return node.status(working(t(`oma-settings-watch.status.${cur.state}`)));
        case 'terminated':
          return node.status((cur.error ? failed : idle)(short(t('oma-settings-watch.status.terminated', { why: cur.error ?? '' }))));
        default:
          return node.status(idle(t('oma-settings-watch.status.idle')));
      }
    };

    const create = (routeSet: string[] | undefined): SettingsWatch => {
      const w = new SettingsWatch(config.endpoint, {
        target: aor,
        from: aor,
        expires,
        routeSet,
        username: authUserOf(user, aor),
        password: user.password,
        userAgent: userAgentFor(user.enabler, user.release),
        contactUser: aor.replace(/^sips?:/, '').split('@')[0],
        ownEntityId,
      });
      w.on('update', (u: SettingsUpdate) => {
        lastEntities = u.entities.length;
        lastEmpty = u.empty;
        showStatus();
        node.send({
          topic: aor,
          payload: compact({
            event: 'settings',
            aor,
            settings: documentView(u.document),
            entities: u.entities,
            own: u.own,
            others: u.others,
            empty: u.empty,
            subscription: u.notify.state,
          }),
          sip: summarize(u.notify.request.message, 'in', u.notify.request.wire),
        });
      });
      w.on('invalid', (p: SettingsProblem) => {
        const sip = summarize(p.notify.request.message, 'in', p.notify.request.wire);
        const msg: NodeMessage = { topic: aor, payload: { event: 'invalid', aor, error: p.error, subscription: p.notify.state }, sip };
        node.error(t('oma-settings-watch.errors.invalid', { aor, error: p.error }), msg);
        node.send(msg);
      });
      w.on('change', (c: SubscriptionChange) => {
        showStatus();
        if (c.state !== 'terminated' || c.previous === 'terminated') return;
        const msg: NodeMessage = {
          topic: aor,
          payload: compact({ event: 'terminated', aor, subscription: c.state, reason: c.reason, error: c.error }),
          sip: changeCause(c),
        };
        if (c.error) node.error(t('oma-settings-watch.errors.failed', { aor, error: c.error }), msg);
        node.send(msg);
      });
      return w;
    };

    endpoint.attach();

    const run = async (cmd: Command): Promise<void> => {
      await config.ready();
      switch (cmd.action) {
        case 'unsubscribe':
          if (watch?.subscriber.wanted) await watch.unsubscribe();
          break;
        case 'refresh':
          if (watch?.subscriber.wanted) await watch.subscriber.refresh();
          else await run({ action: 'subscribe', routeSet: cmd.routeSet });
          break;
        case 'subscribe':
          // A live subscription, or one about to try again, is kept; one that ended is replaced.
          if (watch?.subscriber.wanted) break;
          watch?.stop();
          watch?.removeAllListeners();
          watch = create(cmd.routeSet);
          await watch.start();
          break;
        case 'nothing':
          break;
      }
      showStatus();
    };

    if (flag(def, 'subscribeOnStart', true)) run({ action: 'subscribe' }).catch((e: Error) => node.error(e.message));
    else showStatus();

    node.on('input', (msg, _send, done) => {
      let cmd: Command;
      try {
        cmd = commandOf(msg, aor);
      } catch (e) {
        done(e as Error);
        return;
      }
      run(cmd).then(() => done(), (e: Error) => done(e));
    });

    closeGracefully(
      node,
      endpoint,
      async () => {
        if (!watch?.subscriber.wanted) return;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([watch.unsubscribe(), new Promise<void>((r) => (timer = setTimeout(r, 3000)))]);
        clearTimeout(timer);
      },
      () => {
        watch?.stop();
        watch?.removeAllListeners();
      },
    );
  });
};

/** An action word, or the register node's output (its `serviceRoute` becomes the SUBSCRIBE's route set). */
function commandOf(msg: NodeMessage, aor: string): Command {
  const p = msg.payload;
  if (typeof p === 'string') {
    const w = p.trim().toLowerCase();
    if (w === 'subscribe' || w === 'refresh' || w === 'unsubscribe') return { action: w };
    throw new Error(`unknown action "${p}": use subscribe, refresh or unsubscribe`);
  }
  if (p && typeof p === 'object' && !Array.isArray(p) && typeof (p as Record<string, unknown>).event === 'string') {
    const r = p as Record<string, unknown>;
    if (typeof r.aor === 'string' && r.aor !== aor) return { action: 'nothing' };
    const routeSet = Array.isArray(r.serviceRoute) ? r.serviceRoute.filter((x): x is string => typeof x === 'string') : undefined;
    return { action: EVENT_ACTIONS[r.event as string] ?? 'nothing', routeSet };
  }
  throw new Error('msg.payload must be subscribe, refresh, unsubscribe or the register node’s output');
}
