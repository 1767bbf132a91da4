// Client node: REGISTER, re-REGISTER and de-REGISTER for one or many users.
import { DEFAULT_RELEASE } from '../lib/registration/enablers';
import type { Registration, RegistrationChange } from '../lib/registration/registration';
import { RegistrationPool, type IdentityRequest } from '../lib/registration/registration-pool';
import { closeGracefully, throttled, useEndpoint } from './common/endpoint-user';
import { eventOf, registrationMessage } from './common/registration-output';
import { translator } from './common/i18n';
import { answerTo, flag, integer, text, type NodeDef, type NodeMessage, type RedApi, type RedNode } from './common/red';
import { bindingGone } from './common/reg-event-follow';
import { failed, idle, short, up, working } from './common/status';
import { userConfig } from './common/user-link';

type Action = 'register' | 'refresh' | 'deregister' | 'deregister-service';

interface Command extends IdentityRequest {
  action: Action;
}

/** A reg event node's output: register again when it says our binding is gone. */
interface Follow {
  follow: Record<string, unknown>;
}

const ACTIONS: Record<string, Action> = {
  register: 'register',
  reregister: 'register',
  refresh: 'refresh',
  deregister: 'deregister',
  unregister: 'deregister',
  'deregister-all': 'deregister',
  'deregister-service': 'deregister-service',
};

export = function (RED: RedApi): void {
  RED.nodes.registerType('oma-register', function (this: RedNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'oma-register');
    const node = this;
    const user = userConfig(RED, def.user);
    const endpoint = useEndpoint(RED, node, def, t, () => showStatus());
    if (!endpoint) return;
    const expires = integer(def, 'expires', 3600);
    const deregisterMode = text(def, 'deregisterMode', 'all') === 'service' ? 'service' : 'all';
    const enablerOptions = {
      enabler: user?.enabler ?? 'poc',
      release: user?.release || DEFAULT_RELEASE[user?.enabler ?? 'poc'],
      cpmModes: user?.cpmModes,
      instanceId: user?.instanceId,
      extraFeatureTags: user?.extraTags,
    };
    const config = endpoint.config;
    const pool = new RegistrationPool(config.endpoint, {
      domain: config.domain,
      enabler: enablerOptions,
      expires,
      claimContactUser: (b) => config.claimContactUser(b),
      releaseContactUser: (u) => config.releaseContactUser(u),
    });
    const lastError = new Map<string, string>();
    // Inputs waiting for the outcome they asked for, per AOR: that outcome is sent as the input message.
    const waiting = new Map<string, NodeMessage[]>();

    const showStatus = (): void => {
      if (endpoint.showTrouble()) return;
      const c = pool.counts();
      if (pool.size === 1) {
        const only = pool.list()[0]!;
        switch (only.state) {
          case 'registered':
            return node.status(up(t('oma-register.status.registered', { expires: only.expires ?? 0 })));
          case 'core-only':
            return node.status(up(t('oma-register.status.core-only')));
          case 'registering':
          case 'refreshing':
          case 'deregistering':
            return node.status(working(t(`oma-register.status.${only.state}`)));
          case 'failed':
            return node.status(failed(short(only.error ?? t('oma-register.status.failed'))));
          default:
            return node.status(idle(t('oma-register.status.unregistered')));
        }
      }
      if (pool.size === 0) return node.status(idle(t('oma-register.status.idle')));
      const ok = (c.registered ?? 0) + (c['core-only'] ?? 0);
      const bad = c.failed ?? 0;
      const busy = (c.registering ?? 0) + (c.refreshing ?? 0) + (c.deregistering ?? 0);
      // "3 of 4 registered, 1 failed": the parts that are zero are left out.
      let summary = t('oma-register.status.many', { ok, total: pool.size });
      if (bad) summary += t('oma-register.status.many-failed', { count: bad });
      if (busy) summary += t('oma-register.status.many-busy', { count: busy });
      node.status(bad ? failed(summary) : busy ? working(summary) : up(summary));
    };

    // Thousands of registrations change state in a burst; redraw at most every 200 ms.
    const status = throttled(showStatus, 200, () => pool.size <= 1);

    pool.on('change', (aor: string, c: RegistrationChange) => {
      status.now();
      const event = eventOf(c);
      if (!event) return;
      const input = waiting.get(aor)?.shift();
      const out = answerTo(input, registrationMessage(c, event, enablerOptions.enabler));
      if (event === 'failed') {
        const err = c.info.error ?? 'failed';
        // Retries that fail the same way are reported once; an answer to an input always.
        if (input || lastError.get(aor) !== err) node.error(t('oma-register.errors.failed', { aor, error: err }), out);
        lastError.set(aor, err);
      } else lastError.delete(aor);
      node.send(out);
    });

    endpoint.attach();

    const defaultRequest = (): IdentityRequest | undefined =>
      user?.identity
        ? { identity: user.identity, username: user.authUser || undefined, password: user.password, displayName: user.displayName || undefined }
        : undefined;

    const act = (cmd: Command, reg: Registration): Promise<void> => {
      switch (cmd.action) {
        case 'register':
        case 'refresh':
          return reg.register();
        case 'deregister':
          return reg.deregister(deregisterMode);
        case 'deregister-service':
          return reg.deregister('service');
      }
    };

    /** Runs a command; the settled outcome is sent as `input` when there is one. */
    const run = async (cmd: Command | Follow, input?: NodeMessage): Promise<void> => {
      await config.ready();
      let aor: string;
      let work: () => Promise<void>;
      if ('follow' in cmd) {
        const target = typeof cmd.follow.aor === 'string' ? pool.get(cmd.follow.aor) : undefined;
        const state = target?.current.state;
        // Only a binding we hold can vanish; after our own de-REGISTER the reg event says so too.
        if (!target || !bindingGone(cmd.follow, target.current.contact)) return;
        if (state !== 'registered' && state !== 'refreshing' && state !== 'core-only') return;
        aor = target.current.aor;
        // 3GPP TS 24.229 5.1.1.5: the core dropped the binding, so register it again.
        work = () => (state === 'core-only' ? target.deregister('service') : target.register());
      } else {
        const got = pool.ensure(cmd);
        if ('error' in got) throw new Error(got.error);
        aor = got.aor;
        work = () => act(cmd, got.registration);
      }
      if (input) waiting.set(aor, [...(waiting.get(aor) ?? []), input]);
      try {
        await work();
      } finally {
        const left = waiting.get(aor)?.filter((m) => m !== input) ?? [];
        if (left.length) waiting.set(aor, left);
        else waiting.delete(aor);
      }
    };

    if (flag(def, 'registerOnStart', true)) {
      const d = defaultRequest();
      // No input caused it: a report of the failure goes with the error, so a Catch node sees it.
      if (d) run({ ...d, action: 'register' }).catch((e: Error) => node.error(e.message, { topic: d.identity, payload: { event: 'failed', error: e.message } }));
      else showStatus();
    } else showStatus();

    node.on('input', (msg, _send, done) => {
      let cmd: Command | Follow | undefined;
      try {
        cmd = commandOf(msg, defaultRequest(), expires);
      } catch (e) {
        done(e as Error);
        return;
      }
      if (!cmd) return done(); // another node's report with nothing to do here
      run(cmd, msg).then(() => done(), (e: Error) => done(e));
    });

    const deregisterOnClose = flag(def, 'deregisterOnClose', true);
    closeGracefully(
      node,
      endpoint,
      () => (deregisterOnClose ? pool.deregisterAll('all', 4000) : Promise.resolve()),
      () => {
        status.cancel();
        pool.stopAll();
      },
    );
  });
};

/**
 * Reads what to do from a message: `payload` is an action word, or an object
 * with action and identity, or a reg event node's output (followed: a binding
 * it reports gone is registered again); other nodes' reports ask for nothing.
 */
function commandOf(msg: NodeMessage, fallback: IdentityRequest | undefined, expires: number): Command | Follow | undefined {
  const p = msg.payload;
  const obj = p && typeof p === 'object' && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
  if (typeof obj.action !== 'string' && typeof obj.event === 'string') return obj.event === 'update' ? { follow: obj } : undefined;
  const word = typeof p === 'string' ? p : typeof obj.action === 'string' ? obj.action : 'register';
  const action = ACTIONS[word.trim().toLowerCase()];
  if (!action) throw new Error(`unknown action "${word}": use register, reregister, refresh, deregister or deregister-service`);
  const str = (k: string) => (typeof obj[k] === 'string' && (obj[k] as string).trim() ? (obj[k] as string).trim() : undefined);
  const identity = str('identity') ?? (typeof msg.identity === 'string' ? msg.identity : undefined);
  if (!identity && !fallback) throw new Error('no identity: choose a user in the node or send msg.payload.identity');
  const own = identity !== undefined;
  return {
    action,
    identity: identity ?? fallback!.identity,
    username: str('username') ?? (own ? undefined : fallback?.username),
    password: str('password') ?? (typeof msg.password === 'string' ? msg.password : own ? undefined : fallback?.password),
    displayName: str('displayName') ?? (own ? undefined : fallback?.displayName),
    expires: typeof obj.expires === 'number' && obj.expires >= 0 ? obj.expires : expires,
  };
}
