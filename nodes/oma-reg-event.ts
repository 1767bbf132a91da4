// Client and server node: SUBSCRIBE to the reg event (RFC 3680) for the node's
// user or for users named in messages, and report every change.
import type { ReginfoChange } from '../lib/reginfo/reginfo-view';
import { RegSubscriptionPool } from '../lib/regevent/reg-subscription-pool';
import type { RegProblem, RegUpdate } from '../lib/regevent/reg-subscription';
import { userAgentFor } from '../lib/registration/enablers';
import { normaliseIdentity } from '../lib/sip/uri';
import { summarize } from '../lib/sip/summary';
import type { SubscriptionChange } from '../lib/subscription/subscriber';
import { changeCause } from './common/sip-cause';
import { closeGracefully, throttled, useEndpoint } from './common/endpoint-user';
import { translator } from './common/i18n';
import { answerTo, compact, flag, integer, text, type NodeDef, type NodeMessage, type RedApi, type RedNode } from './common/red';
import { failed, idle, short, up, working } from './common/status';
import { userConfig } from './common/user-link';

type Action = 'subscribe' | 'unsubscribe' | 'refresh';

interface Command {
  action: Action;
  aor?: string;
  routeSet?: string[];
}

/** Third-party register and register outputs say what happened to a user; map that to what to do. */
const WORDS: Record<string, Action> = { subscribe: 'subscribe', unsubscribe: 'unsubscribe', refresh: 'refresh' };

const EVENT_ACTIONS: Record<string, Action> = {
  registered: 'subscribe',
  refreshed: 'subscribe',
  deregistered: 'unsubscribe',
  expired: 'unsubscribe',
  'service-deregistered': 'unsubscribe',
};

function changeView(c: ReginfoChange) {
  return c.kind === 'contact'
    ? { kind: 'contact', aor: c.aor, registration: c.registrationId, contact: c.contactId, uri: c.uri, event: c.event, state: c.state, previousState: c.previousState, inferred: c.inferred }
    : { kind: 'registration', aor: c.aor, registration: c.registrationId, event: c.event, state: c.state, previousState: c.previousState, activeContacts: c.activeContacts };
}

export = function (RED: RedApi): void {
  RED.nodes.registerType('oma-reg-event', function (this: RedNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'oma-reg-event');
    const node = this;
    const user = userConfig(RED, def.user);
    const endpoint = useEndpoint(RED, node, def, t, () => showStatus());
    if (!endpoint) return;
    const config = endpoint.config;
    const ownAor = user?.identity ? normaliseIdentity(user.identity, config.domain) : undefined;
    const fromText = text(def, 'from');
    const pool = new RegSubscriptionPool(config.endpoint, {
      domain: config.domain,
      from: fromText ? normaliseIdentity(fromText, config.domain) : ownAor ?? `sip:oma-server@${config.domain}`,
      expires: integer(def, 'expires', 600),
      username: user ? user.authUser || ownAor?.replace(/^sips?:/, '').split('@')[0] : undefined,
      password: user?.password,
      userAgent: user ? userAgentFor(user.enabler, user.release) : undefined,
      contactUser: ownAor?.replace(/^sips?:/, '').split('@')[0],
    });
    const showStatus = (): void => {
      if (endpoint.showTrouble()) return;
      if (pool.size === 0) return node.status(idle(t('oma-reg-event.status.idle')));
      if (pool.size === 1) {
        const sub = pool.list()[0]!;
        const cur = sub.subscriber.current;
        const contacts = sub.view.snapshot().registrations.reduce((n, r) => n + r.contacts.filter((c) => c.state === 'active').length, 0);
        switch (cur.state) {
          case 'active':
            return node.status(up(t('oma-reg-event.status.active', { count: contacts })));
          case 'pending':
          case 'subscribing':
            return node.status(working(t(`oma-reg-event.status.${cur.state}`)));
          case 'terminated':
            return node.status((cur.error ? failed : idle)(short(t('oma-reg-event.status.terminated', { why: cur.error ?? '' }))));
          default:
            return node.status(idle(t('oma-reg-event.status.idle')));
        }
      }
      const c = pool.counts();
      const summary = t('oma-reg-event.status.many', { active: c.active ?? 0, pending: (c.pending ?? 0) + (c.subscribing ?? 0), terminated: c.terminated ?? 0 });
      // Every subscription ended in failure (a core that challenges us, say): red, with the reason.
      const errors = pool.list().map((sub) => sub.subscriber.current.error);
      if (c.terminated === pool.size && errors.every((e) => e)) return node.status(failed(short(`${summary}: ${errors.at(-1)}`)));
      node.status((c.active ?? 0) > 0 ? up(summary) : working(summary));
    };

    /** A failure in words, with what to do when the core wants credentials the node has not got. */
    const explain = (error: string): string =>
      /^40[17]\b/.test(error) && !user?.password ? `${error}: ${t('oma-reg-event.errors.needs-credentials')}` : error;

    // An input that started or ended a subscription is answered by the report of that outcome.
    const waiting = new Map<string, NodeMessage>();

    const status = throttled(showStatus, 200, () => pool.size <= 1);

    pool.on('update', (aor: string, u: RegUpdate) => {
      status.now();
      node.send({
        topic: aor,
        payload: {
          event: 'update',
          aor,
          subscription: u.notify.state,
          version: u.version,
          full: u.full,
          changes: u.changes.map(changeView),
          registrations: u.snapshot.registrations,
        },
        sip: summarize(u.notify.request.message, 'in', u.notify.request.wire),
      });
    });
    const problem = (kind: 'invalid' | 'resync') => (aor: string, p: RegProblem) => {
      const out: NodeMessage = {
        topic: aor,
        payload: compact({ event: kind, aor, error: p.error, subscription: p.notify.state }),
        sip: summarize(p.notify.request.message, 'in', p.notify.request.wire),
      };
      if (kind === 'invalid') node.error(t('oma-reg-event.errors.invalid', { aor, error: p.error }), out);
      node.send(out);
    };
    pool.on('invalid', problem('invalid'));
    pool.on('resync', problem('resync'));
    pool.on('change', (aor: string, c: SubscriptionChange) => {
      status.now();
      if (c.state === c.previous && !c.error) return;
      if (c.state !== 'terminated' && c.state !== 'active' && !c.error) return;
      const input = waiting.get(aor);
      waiting.delete(aor);
      const error = c.error ? explain(c.error) : undefined;
      const out = answerTo(input, {
        topic: aor,
        payload: compact({ event: c.state === 'terminated' ? 'terminated' : 'subscribed', aor, subscription: c.state, reason: c.reason, error }),
        sip: changeCause(c),
      });
      if (error) node.error(t('oma-reg-event.errors.failed', { aor, error }), out);
      node.send(out);
    });

    endpoint.attach();

    const run = async (cmd: Command, input?: NodeMessage): Promise<void> => {
      await config.ready();
      const aor = cmd.aor ?? ownAor;
      if (!aor) throw new Error(t('oma-reg-event.errors.no-aor'));
      if (cmd.action === 'unsubscribe') {
        const sub = pool.get(aor);
        if (sub && input) waiting.set(sub.aor, input);
        await pool.unsubscribe(aor);
        showStatus();
        return;
      }
      const got = pool.ensure({ aor, routeSet: cmd.routeSet });
      if ('error' in got) throw new Error(got.error);
      if (got.created && input) waiting.set(got.sub.aor, input);
      if (cmd.action === 'refresh' && !got.created) await got.sub.subscriber.refresh();
      showStatus();
    };

    if (flag(def, 'subscribeOnStart', true) && ownAor) {
      run({ action: 'subscribe' }).catch((e: Error) => node.error(e.message, { topic: ownAor, payload: { event: 'terminated', aor: ownAor, error: e.message } }));
    } else showStatus();

    node.on('input', (msg, _send, done) => {
      let cmd: Command | undefined;
      try {
        cmd = commandOf(msg);
      } catch (e) {
        done(e as Error);
        return;
      }
      if (!cmd) {
        done();
        return; // e.g. a failed registration: nothing to do
      }
      run(cmd, msg).then(() => done(), (e: Error) => done(e));
    });

    closeGracefully(
      node,
      endpoint,
      () => pool.unsubscribeAll(3000),
      () => {
        status.cancel();
        pool.stopAll();
        waiting.clear();
      },
    );
  });
};

/**
 * What a message asks for: `payload` an action word, or an object naming the
 * user (`aor`, `user` or `identity`) with an `action`, or the output of the
 * register / third-party register nodes (their `event` says what to do).
 */
function commandOf(msg: NodeMessage): Command | undefined {
  const p = msg.payload;
  if (typeof p === 'string') {
    return { action: actionOf(p), aor: typeof msg.topic === 'string' && /^(sips?:)?[^@\s]+@/.test(msg.topic) ? msg.topic : undefined };
  }
  if (!p || typeof p !== 'object' || Array.isArray(p)) return { action: 'subscribe' };
  const o = p as Record<string, unknown>;
  const aor = [o.aor, o.user, o.identity].find((v): v is string => typeof v === 'string' && v.trim() !== '');
  const routeSet = Array.isArray(o.serviceRoute) ? o.serviceRoute.filter((r): r is string => typeof r === 'string') : undefined;
  if (typeof o.action === 'string') return { action: actionOf(o.action), aor, routeSet };
  if (typeof o.event === 'string') {
    const action = EVENT_ACTIONS[o.event];
    return action ? { action, aor, routeSet } : undefined;
  }
  return { action: 'subscribe', aor, routeSet };
}

function actionOf(word: string): Action {
  const action = WORDS[word.trim().toLowerCase()];
  if (!action) throw new Error(`unknown action "${word}": use subscribe, unsubscribe or refresh`);
  return action;
}
