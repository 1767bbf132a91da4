// The poc-settings subscription (seed 002 steps 16-23, 29-31) against a
// scripted notifier over loopback endpoints.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SettingsWatch, type SettingsProblem, type SettingsUpdate } from '../../lib/settings/settings-watch';
import { writeSettings } from '../../lib/settings/settings-writer';
import { dialogAsUas, type Dialog } from '../../lib/sip/dialog';
import { SipEndpoint, type IncomingRequest } from '../../lib/sip/endpoint';
import { headerText } from '../../lib/sip/message';
import type { SubscriptionChange } from '../../lib/subscription/subscriber';
import { Events } from '../support/events';
import { sendNotify, useClosers } from '../support/loopback';
import { projectRoot } from '../support/project-root';

const AOR = 'sip:alice@lab.test';
const TYPE = 'application/poc-settings+xml';
const WAIT = 10000;

describe('SettingsWatch (poc-settings subscription)', function () {
  this.timeout(20000);
  const { closers, endpoint } = useClosers();

  /** A settings server in a few lines: 200 to SUBSCRIBE, then whatever NOTIFYs the test sends. */
  async function notifier(transport: 'udp' | 'tcp' = 'udp', firstBody = '') {
    const ep = await endpoint(transport);
    const subscribes: IncomingRequest[] = [];
    const inDialog: IncomingRequest[] = [];
    let dialog: Dialog | undefined;
    const send = (state: string, body = '', type = TYPE) => sendNotify(ep, dialog!, { event: 'poc-settings', state, body, type });
    ep.addHandler((req) => {
      if (req.message.method !== 'SUBSCRIBE') return false;
      subscribes.push(req);
      req.respond(200, { headers: { expires: '3600' } });
      dialog = dialogAsUas(req.message, req.toTag)!;
      ep.dialogs.register(dialog.callId, dialog.localTag, (r) => {
        inDialog.push(r);
        r.respond(200, { headers: { expires: headerText(r.message, 'expires') ?? '3600' } });
        if (headerText(r.message, 'expires') === '0') void send('terminated;reason=timeout');
      });
      // seed 002 step 20: the current settings at once (an empty document before anyone published).
      void send('active;expires=3600', firstBody);
      return true;
    });
    return { ep, subscribes, inDialog, send };
  }

  async function watch(n: { ep: SipEndpoint }, transport: 'udp' | 'tcp' = 'udp') {
    const ep = await endpoint(transport);
    const route = `<sip:127.0.0.1:${n.ep.port}${transport === 'tcp' ? ';transport=tcp' : ''};lr>`;
    const w = new SettingsWatch(ep, { target: AOR, from: AOR, expires: 3600, routeSet: [route], ownEntityId: 'client-a' });
    const updates = new Events<SettingsUpdate>();
    const invalid = new Events<SettingsProblem>();
    const changes = new Events<SubscriptionChange>();
    w.on('update', updates.push);
    w.on('invalid', invalid.push);
    w.on('change', changes.push);
    closers.push(() => w.stop());
    return { w, updates, invalid, changes };
  }

  const both = writeSettings({
    entities: [
      { id: 'client-a', poc: { incomingSessionBarring: false, answerMode: 'manual' }, extensions: [] },
      { id: 'client-b', poc: { answerMode: 'automatic' }, extensions: [] },
    ],
  });

  it('subscribes through the route set with Event and Accept, and reads an empty body as no settings yet', async () => {
    const n = await notifier();
    const c = await watch(n);
    await c.w.start();
    const first = await c.updates.next(() => true, WAIT);
    const sub = n.subscribes[0]!.message;
    assert.equal(sub.uri, AOR);
    assert.equal(headerText(sub, 'event'), 'poc-settings');
    assert.equal(headerText(sub, 'accept'), TYPE);
    assert.match(sub.headers.route?.[0]?.uri ?? '', /^sip:127\.0\.0\.1:\d+;lr$/, 'the preloaded route (Service-Route)');
    assert.equal(first.empty, true);
    assert.deepEqual(first.entities, []);
    assert.equal(first.own, undefined);
  });

  it('reports who set what: its own entity and the other clients’ ones', async () => {
    const n = await notifier('udp', writeSettings({ entities: [] }));
    const c = await watch(n);
    await c.w.start();
    const empty = await c.updates.next(() => true, WAIT);
    assert.equal(empty.empty, true, 'an empty document: nobody published');
    assert.equal(await n.send('active;expires=3500', both), 200);
    const u = await c.updates.next(() => true, WAIT);
    assert.equal(u.empty, false);
    assert.deepEqual(u.entities, ['client-a', 'client-b']);
    assert.equal(u.own, 'client-a');
    assert.deepEqual(u.others, ['client-b']);
    assert.equal(u.document.entities[1]!.poc?.answerMode, 'automatic');
    assert.equal(u.document.entities[0]!.poc?.incomingSessionBarring, false);
  });

  it('answers a hostile or wrongly typed body with 200, reports it, and keeps the last good settings (TCP)', async () => {
    const laughs = fs.readFileSync(path.join(projectRoot(), 'test/vectors/negative/billion-laughs.xml'), 'utf8');
    const n = await notifier('tcp', both);
    const c = await watch(n, 'tcp');
    await c.w.start();
    await c.updates.next(() => true, WAIT);
    assert.equal(await n.send('active;expires=3600', laughs), 200);
    const bad = await c.invalid.next(() => true, WAIT);
    assert.match(bad.error, /DOCTYPE/);
    assert.equal(await n.send('active;expires=3600', both, 'application/reginfo+xml'), 200);
    assert.match((await c.invalid.next(() => true, WAIT)).error, /expected application\/poc-settings\+xml/);
    assert.deepEqual(c.w.document.entities.map((e) => e.id), ['client-a', 'client-b'], 'the last good settings are kept');
    assert.equal(c.w.subscriber.current.state, 'active', 'the subscription goes on');
  });

  it('un-subscribes inside the dialog with Expires 0', async () => {
    const n = await notifier('udp', both);
    const c = await watch(n);
    await c.w.start();
    await c.updates.next(() => true, WAIT);
    await c.w.unsubscribe();
    const end = await c.changes.next((x) => x.state === 'terminated', WAIT);
    assert.equal(end.reason, 'unsubscribed');
    assert.equal(n.inDialog.length, 1);
    assert.equal(headerText(n.inDialog[0]!.message, 'expires'), '0');
    assert.equal(n.subscribes.length, 1, 'no new subscription');
  });
});
