// Client node: a user's inbox for deferred messages (seed 003 12.2.2.2, seed
// 004 7.2.6). Answers the IM server's delivery INVITE and takes the messages
// over MSRP, takes pager-mode MESSAGEs too, and outputs each with its
// original sender and time; on input, fetches the list of what still waits
// (a SUBSCRIBE to deferred-message info with Expires 0), when asked and, wired
// to a register node, after each initial registration (seed 004 7.2.6.1: "based
// on CPM User request or after registration").
import { Inbox, type InboxDuplicate, type InboxMessage, type InboxUnreadable } from '../lib/deferred/inbox';
import { DEFERRED_LIST_CONTENT_TYPE, readHistoryList } from '../lib/deferred/history-list';
import { InfoFetch, type InfoFetchResult } from '../lib/deferred/info-fetch';
import { userAgentFor } from '../lib/registration/enablers';
import { DEFAULT_DEFERRED_INFO_EVENT } from '../lib/server/deferred-info-server';
import { summarize } from '../lib/sip/summary';
import { normaliseIdentity } from '../lib/sip/uri';
import { closeGracefully } from './common/endpoint-user';
import { translator } from './common/i18n';
import { answerTo, compact, text, type NodeDef, type NodeMessage, type RedApi, type RedNode } from './common/red';
import { authUserOf, useUserEndpoint } from './common/settings-client';
import { failed, up } from './common/status';

const errorOf = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

export = function (RED: RedApi): void {
  RED.nodes.registerType('oma-inbox', function (this: RedNode, def: NodeDef) {
    RED.nodes.createNode(this, def);
    const t = translator(RED, 'oma-inbox');
    const node = this;
    let received = 0;
    /** The ids the last fetch listed, less those received since; unknown until the first fetch. */
    let waiting: Set<string> | undefined;
    let startError: string | undefined;
    const showStatus = (): void => {
      if (!client || client.endpoint.showTrouble()) return;
      if (startError) return node.status(failed(t('oma-inbox.status.failed')));
      const got = t('oma-inbox.status.received', { count: received });
      node.status(up(waiting === undefined ? got : `${got}, ${t('oma-inbox.status.waiting', { count: waiting.size })}`));
    };
    const client = useUserEndpoint(RED, node, def, t, () => showStatus());
    if (!client) return;
    const { endpoint, user, aor } = client;
    const config = endpoint.config;
    const infoEvent = text(def, 'infoEvent', DEFAULT_DEFERRED_INFO_EVENT) || DEFAULT_DEFERRED_INFO_EVENT;
    const contactUser = aor.replace(/^sips?:/, '').split('@')[0];

    const inbox = new Inbox({ endpoint: config.endpoint, aor, contactUser });
    inbox.on('message', (m: InboxMessage) => {
      received++;
      // A delivered message carries its stored id (the list's reference) as its Message-ID.
      waiting?.delete(m.messageId);
      showStatus();
      node.send({
        topic: aor,
        payload: compact({
          event: 'message',
          from: m.from,
          to: m.to,
          time: m.time === undefined ? undefined : new Date(m.time).toISOString(),
          contentType: m.contentType,
          body: m.body,
          via: m.via,
          id: m.messageId,
        }),
      });
    });
    inbox.on('refused', (r: { status: number; reason: string; method: string }) => {
      node.debug(t('oma-inbox.log.refused', { method: r.method, status: r.status, reason: r.reason }));
    });
    // Refused with 400 / 415 before its 200: it stays stored at the server, and the user should know why.
    inbox.on('unreadable', (u: InboxUnreadable) => {
      const error = t('oma-inbox.errors.unreadable', { id: u.messageId, status: u.status, reason: u.reason });
      node.error(error, { topic: aor, payload: { event: 'unreadable', id: u.messageId, status: u.status, error } });
    });
    // A redelivery after the server crashed mid-session: answered, not output again.
    inbox.on('duplicate', (d: InboxDuplicate) => node.debug(t('oma-inbox.log.duplicate', { id: d.messageId, via: d.via })));
    inbox.on('session', (s: { state: string; callId: string; cause?: string }) => {
      node.debug(t('oma-inbox.log.session', { state: s.state, callId: s.callId, cause: s.cause ?? '' }));
    });

    endpoint.attach();
    config
      .ready()
      .then(() => inbox.start())
      .then(showStatus)
      .catch((err: unknown) => {
        startError = errorOf(err).message;
        node.error(t('oma-inbox.errors.start', { error: startError }));
        showStatus();
      });

    const fetches = new Set<InfoFetch>();
    let released = false;
    /** One SUBSCRIBE with Expires 0: the server answers with one NOTIFY carrying the list, and the subscription is over. */
    const fetch = async (): Promise<InfoFetchResult> => {
      await config.ready();
      const f = new InfoFetch(config.endpoint, {
        target: aor,
        from: aor,
        event: infoEvent,
        accept: [DEFERRED_LIST_CONTENT_TYPE],
        contactUser,
        username: authUserOf(user, aor),
        password: user.password,
        userAgent: userAgentFor(user.enabler, user.release),
      });
      fetches.add(f);
      try {
        return await f.run();
      } catch (e) {
        throw new Error(t('oma-inbox.errors.fetch', { error: errorOf(e).message }));
      } finally {
        fetches.delete(f);
      }
    };

    node.on('input', (msg, send, done) => {
      const input = inputOf(msg.payload, aor, config.domain);
      if (input === 'invalid') {
        done(new Error(t('oma-inbox.errors.input')));
        return;
      }
      if (input === 'ignore') {
        done();
        return;
      }
      fetch()
        .then(({ notify }) => {
          const sip = summarize(notify.request.message, 'in', notify.request.wire);
          const list = readHistoryList(notify.body);
          if (!list.ok) {
            const out: NodeMessage = answerTo(msg, { topic: aor, payload: { event: 'invalid', aor, error: list.error }, sip });
            node.error(t('oma-inbox.errors.invalid', { error: list.error }), out);
            send(out);
            return;
          }
          const messages = list.list.entries.map((e) =>
            compact({ id: e.reference, from: e.pager?.from, to: e.pager?.to, time: e.pager?.timeStamp ?? e.date, size: e.size, subject: e.subject, expiry: e.expiry }),
          );
          waiting = new Set(list.list.entries.map((e) => e.reference));
          showStatus();
          send(answerTo(msg, { topic: aor, payload: { event: 'waiting', aor, messages }, sip }));
        })
        .then(
          () => done(),
          // A fetch the node's close gave up on is no error of the input's.
          (e: unknown) => done(released ? undefined : errorOf(e)),
        );
    });

    closeGracefully(
      node,
      endpoint,
      // BYE to delivery sessions under way (bounded: the server keeps what was not confirmed).
      async () => {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([inbox.close(), new Promise<void>((r) => (timer = setTimeout(r, 3000)))]).catch(() => undefined);
        clearTimeout(timer);
      },
      () => {
        released = true;
        for (const f of fetches) f.abort();
        inbox.close().catch(() => undefined);
        inbox.removeAllListeners();
      },
    );
  });
};

/**
 * `fetch`, or a register node's output: its `registered` (an initial
 * registration of this inbox's user) fetches, its other events and outputs
 * for other users are left alone, as the publish settings node does.
 */
function inputOf(p: unknown, aor: string, domain: string): 'fetch' | 'ignore' | 'invalid' {
  if (typeof p === 'string') return p.trim().toLowerCase() === 'fetch' ? 'fetch' : 'invalid';
  if (!p || typeof p !== 'object' || Array.isArray(p)) return 'invalid';
  const r = p as Record<string, unknown>;
  if (typeof r.event !== 'string') return 'invalid';
  if (typeof r.aor === 'string' && normaliseIdentity(r.aor.trim(), domain) !== aor) return 'ignore';
  return r.event === 'registered' ? 'fetch' : 'ignore';
}
