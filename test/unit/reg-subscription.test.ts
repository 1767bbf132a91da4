// The reg event subscriber against the lab core's notifier and against a
// scripted notifier, over loopback endpoints.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LabCore } from '../../lib/labcore/lab-core';
import { profileFor } from '../../lib/registration/enablers';
import { Registration } from '../../lib/registration/registration';
import { RegSubscription, type RegProblem, type RegUpdate } from '../../lib/regevent/reg-subscription';
import { writeReginfo } from '../../lib/reginfo/reginfo-writer';
import type { ReginfoDocument } from '../../lib/reginfo/reginfo-types';
import { dialogAsUas, type Dialog } from '../../lib/sip/dialog';
import { SipEndpoint, type IncomingRequest } from '../../lib/sip/endpoint';
import { headerText } from '../../lib/sip/message';
import type { SubscriptionChange } from '../../lib/subscription/subscriber';
import { FakeScheduler } from '../support/fake-scheduler';
import { Events } from '../support/events';
import { sendNotify, useClosers } from '../support/loopback';
import { projectRoot } from '../support/project-root';

const USERS = new Map([
  ['alice', 'alice-pw'],
  ['bob', 'bob-pw'],
]);

describe('reg event subscription (RFC 3680 / RFC 6665)', function () {
  this.timeout(15000);
  const { closers, endpoint } = useClosers();

  async function lab(scheduler?: FakeScheduler) {
    const coreEp = await endpoint();
    const core = new LabCore(coreEp, { domain: 'lab.test', users: USERS, scheduler });
    core.start();
    closers.push(() => core.stop());
    const clientEp = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: 0, outboundProxy: { host: '127.0.0.1', port: coreEp.port } });
    await clientEp.start();
    closers.push(() => clientEp.close());
    return { core, coreEp, clientEp };
  }

  function registration(ep: SipEndpoint, user: string, contactUser = user, expires = 600) {
    return new Registration(ep, {
      aor: `sip:${user}@lab.test`,
      registrar: 'sip:lab.test',
      username: user,
      password: USERS.get(user)!,
      contactUser,
      profile: profileFor({ enabler: 'poc' }),
      expires,
    });
  }

  function subscribe(ep: SipEndpoint, aor: string, from = aor) {
    // A user may watch their own registration once authenticated (the lab core challenges with 407).
    const user = /^sip:([^@]+)@/.exec(from)?.[1] ?? '';
    const sub = new RegSubscription(ep, { target: aor, from, expires: 600, username: user, password: USERS.get(user) });
    const updates = new Events<RegUpdate>();
    const changes = new Events<SubscriptionChange>();
    const invalid = new Events<RegProblem>();
    sub.on('update', updates.push);
    sub.on('change', changes.push);
    sub.on('invalid', invalid.push);
    closers.push(() => sub.stop());
    return { sub, updates, changes, invalid };
  }

  it('reports the registration, a second contact, and the de-registration with their events', async () => {
    const { clientEp } = await lab();
    const reg = registration(clientEp, 'alice');
    await reg.register();
    const { sub, updates, changes } = subscribe(clientEp, 'sip:alice@lab.test');
    await sub.start();
    const first = await updates.next();
    assert.equal(first.full, true);
    assert.equal(first.version, 0);
    const regs = first.snapshot.registrations;
    assert.equal(regs.length, 1);
    assert.equal(regs[0]!.state, 'active');
    assert.equal(regs[0]!.contacts[0]!.uri, reg.current.contact);
    assert.ok(regs[0]!.contacts[0]!.unknownParams.some((p) => p.name === '+g.poc.talkburst'), 'feature tags as unknown-param');
    await changes.next((c) => c.state === 'active');

    const second = registration(clientEp, 'alice', 'alice-phone2');
    await second.register();
    const added = await updates.next();
    assert.equal(added.full, false, 'a change is a partial document');
    assert.equal(added.version, 1);
    assert.deepEqual(
      added.changes.filter((c) => c.kind === 'contact').map((c) => [c.uri, c.event, c.state]),
      [[second.current.contact, 'registered', 'active']],
    );
    assert.equal(added.snapshot.registrations[0]!.contacts.length, 2);

    await second.deregister('all');
    await reg.deregister('all');
    const gone1 = await updates.next();
    const gone2 = await updates.next();
    const events = [...gone1.changes, ...gone2.changes];
    assert.ok(events.some((c) => c.kind === 'contact' && c.event === 'unregistered' && c.state === 'terminated'));
    assert.ok(events.some((c) => c.kind === 'registration' && c.event === 'unregistered'));
    assert.equal(gone2.version, 3);
  });

  it('reports an expired binding, and the notifier ends an unrefreshed subscription with reason timeout', async () => {
    const clock = new FakeScheduler();
    const { clientEp, core } = await lab(clock);
    const reg = registration(clientEp, 'bob', 'bob', 120);
    await reg.register();
    reg.stop(); // no refresh: let it expire
    const { sub, updates, changes } = subscribe(clientEp, 'sip:bob@lab.test');
    await sub.start();
    await updates.next();
    await changes.next((c) => c.state === 'active');
    clock.advance(121_000);
    const expired = await updates.next();
    assert.ok(expired.changes.some((c) => c.kind === 'contact' && c.event === 'expired' && c.state === 'terminated'));
    assert.equal(core.regEvents.size, 1);

    // The notifier's clock passes the subscription's expiry; the subscriber comes back at once.
    clock.advance(600_000);
    const ended = await changes.next((c) => c.state === 'terminated');
    assert.equal(ended.reason, 'timeout');
    await changes.next((c) => c.state === 'active');
    assert.equal(core.regEvents.size, 1, 'one live subscription again, not two');
  });

  it('refreshes inside the dialog and gets full state; un-SUBSCRIBE ends with a terminated NOTIFY', async () => {
    const { clientEp, core } = await lab();
    await registration(clientEp, 'alice').register();
    const { sub, updates, changes } = subscribe(clientEp, 'sip:alice@lab.test');
    await sub.start();
    const first = await updates.next();
    const callId = sub.subscriber.current.callId;
    await sub.subscriber.refresh();
    const again = await updates.next();
    assert.equal(again.full, true);
    assert.equal(again.version, (first.version ?? 0) + 1);
    assert.equal(sub.subscriber.current.callId, callId, 'same dialog');
    await sub.unsubscribe();
    const end = await changes.next((c) => c.state === 'terminated');
    assert.equal(end.reason, 'unsubscribed');
    assert.equal(core.regEvents.size, 0);
  });

  describe('against a scripted notifier', () => {
    interface Script {
      onSubscribe(req: IncomingRequest, send: (d: Dialog, state: string, body?: string, type?: string) => Promise<number>): void;
    }

    async function notifier(script: Script, transport: 'udp' | 'tcp' = 'udp') {
      const ep = await endpoint(transport);
      const dialogs: Dialog[] = [];
      const send = (d: Dialog, state: string, body = '', type = 'application/reginfo+xml') => sendNotify(ep, d, { event: 'reg', state, body, type });
      ep.addHandler((req) => {
        if (req.message.method !== 'SUBSCRIBE') return false;
        const d = dialogAsUas(req.message, req.toTag)!;
        dialogs.push(d);
        script.onSubscribe(req, send);
        return true;
      });
      return { ep, dialogs, send };
    }

    const doc = (version: number, state: 'full' | 'partial', contacts: string[]): string => {
      const d: ReginfoDocument = {
        version,
        state,
        registrations: [
          {
            aor: 'sip:carol@lab.test',
            id: 'a7',
            state: 'active',
            contacts: contacts.map((c, i) => ({ id: String(i + 1), state: 'active', event: 'registered', uri: c, unknownParams: [] })),
          },
        ],
      };
      return writeReginfo(d);
    };

    async function client(target: { port: number; protocol: 'udp' | 'tcp' }) {
      const ep = await endpoint(target.protocol);
      const aor = `sip:carol@127.0.0.1:${target.port}${target.protocol === 'tcp' ? ';transport=tcp' : ''}`;
      return { ep, ...subscribe(ep, aor) };
    }

    it('accepts a NOTIFY that arrives before the 200 to SUBSCRIBE', async () => {
      const n = await notifier({
        onSubscribe(req, send) {
          const d = dialogAsUas(req.message, req.toTag)!;
          void send(d, 'active;expires=600', doc(0, 'full', ['sip:carol@10.0.0.1'])).then(() => req.respond(200, { headers: { expires: '600' } }));
        },
      });
      const c = await client(n.ep);
      await c.sub.start();
      const u = await c.updates.next();
      assert.equal(u.snapshot.registrations[0]!.contacts[0]!.uri, 'sip:carol@10.0.0.1');
      assert.equal(c.sub.subscriber.current.state, 'active');
    });

    it('answers a hostile body with 200, reports it, and keeps the state it had (TCP, to carry 80 kB)', async () => {
      const laughs = fs.readFileSync(path.join(projectRoot(), 'test/vectors/negative/billion-laughs.xml'), 'utf8');
      let dialog: Dialog | undefined;
      const n = await notifier({
        onSubscribe(req, send) {
          req.respond(200, { headers: { expires: '600' } });
          dialog = dialogAsUas(req.message, req.toTag)!;
          void send(dialog, 'active;expires=600', doc(0, 'full', ['sip:carol@10.0.0.1']));
        },
      }, 'tcp');
      const c = await client(n.ep);
      await c.sub.start();
      await c.updates.next();
      const status = await n.send(dialog!, 'active;expires=600', laughs);
      assert.equal(status, 200);
      const bad = await c.invalid.next();
      assert.match(bad.error, /DOCTYPE/);
      assert.equal(c.sub.view.snapshot().registrations[0]!.contacts[0]!.uri, 'sip:carol@10.0.0.1');
      const big = `<?xml version="1.0"?><reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="1" state="full">${'<x/>'.repeat(20000)}</reginfo>`;
      assert.equal(await n.send(dialog!, 'active;expires=600', big), 200);
      assert.match((await c.invalid.next()).error, /exceeds 65536/);
    });

    it('answers 481 to a NOTIFY for no dialog it knows', async () => {
      const n = await notifier({ onSubscribe: (req) => req.respond(200, { headers: { expires: '600' } }) });
      const c = await client(n.ep);
      await c.sub.start();
      const stray: Dialog = { ...n.dialogs[0]!, localTag: 'not-ours', remoteTag: 'nobody', localSeq: 10 };
      assert.equal(await n.send(stray, 'active'), 481);
    });

    it('asks for full state after a version gap, by refreshing the subscription', async () => {
      let dialog: Dialog | undefined;
      let subscribes = 0;
      const n = await notifier({
        onSubscribe(req, send) {
          subscribes++;
          req.respond(200, { headers: { expires: '600' } });
          dialog = dialogAsUas(req.message, req.toTag)!;
          void send(dialog, 'active;expires=600', doc(0, 'full', ['sip:carol@10.0.0.1']));
        },
      });
      // In-dialog refreshes come to the dialog router, not to the handler above.
      const c = await client(n.ep);
      let refreshes = 0;
      await c.sub.start();
      await c.updates.next();
      n.ep.dialogs.register(dialog!.callId, dialog!.localTag, (req) => {
        refreshes++;
        req.respond(200, { headers: { expires: '600' } });
        void n.send(dialog!, 'active;expires=600', doc(5, 'full', ['sip:carol@10.0.0.1', 'sip:carol@10.0.0.2']));
      });
      await n.send(dialog!, 'active;expires=600', doc(3, 'partial', ['sip:carol@10.0.0.9']));
      const full = await c.updates.next();
      assert.equal(refreshes, 1, 'one refresh SUBSCRIBE in the dialog');
      assert.equal(subscribes, 1, 'no new subscription');
      assert.equal(full.version, 5);
      assert.equal(full.snapshot.registrations[0]!.contacts.length, 2);
    });

    for (const [reason, again] of [
      ['deactivated', true],
      ['rejected', false],
      ['noresource', false],
    ] as const) {
      it(`on Subscription-State terminated;reason=${reason} it ${again ? 'subscribes again at once' : 'stops and says why'}`, async () => {
        let count = 0;
        const n = await notifier({
          onSubscribe(req, send) {
            count++;
            req.respond(200, { headers: { expires: '600' } });
            const d = dialogAsUas(req.message, req.toTag)!;
            void send(d, count === 1 ? `terminated;reason=${reason}` : 'active;expires=600', doc(0, 'full', []));
          },
        });
        const c = await client(n.ep);
        await c.sub.start();
        const ended = await c.changes.next((x) => x.state === 'terminated');
        assert.equal(ended.reason, reason);
        if (again) {
          await c.changes.next((x) => x.state === 'active');
          assert.equal(count, 2);
        } else {
          assert.match(ended.error ?? '', new RegExp(reason));
          await new Promise((r) => setTimeout(r, 300));
          assert.equal(count, 1, 'no new SUBSCRIBE');
        }
      });
    }

    it('waits retry-after on probation before subscribing again', async () => {
      const times: number[] = [];
      const n = await notifier({
        onSubscribe(req, send) {
          times.push(Date.now());
          req.respond(200, { headers: { expires: '600' } });
          const d = dialogAsUas(req.message, req.toTag)!;
          void send(d, times.length === 1 ? 'terminated;reason=probation;retry-after=1' : 'active;expires=600', doc(0, 'full', []));
        },
      });
      const c = await client(n.ep);
      await c.sub.start();
      await c.changes.next((x) => x.state === 'active' && times.length === 2, 5000);
      assert.ok(times[1]! - times[0]! >= 950, `waited ${times[1]! - times[0]!} ms`);
    });

    for (const [what, body] of [
      ['full state without the contact', () => writeReginfo({ version: 0, state: 'full', registrations: [] })],
      ['an empty NOTIFY (Kamailio)', () => ''],
    ] as const) {
      it(`reports the binding a restarted notifier forgot, when its new subscription starts with ${what}`, async () => {
        let subscribes = 0;
        let dialog: Dialog | undefined;
        const n = await notifier({
          onSubscribe(req, send) {
            subscribes++;
            req.respond(200, { headers: { expires: '600' } });
            dialog = dialogAsUas(req.message, req.toTag)!;
            void send(dialog, 'active;expires=600', subscribes === 1 ? doc(0, 'full', ['sip:carol@10.0.0.1']) : body());
          },
        });
        const c = await client(n.ep);
        await c.sub.start();
        const first = await c.updates.next();
        assert.equal(first.snapshot.registrations[0]!.contacts[0]!.state, 'active');
        // The notifier restarts: it knows the dialog no more, so the refresh gets 481 and a new SUBSCRIBE goes out.
        n.ep.dialogs.register(dialog!.callId, dialog!.localTag, (req) => req.respond(481));
        await c.sub.subscriber.refresh();
        const after = await c.updates.next();
        assert.equal(subscribes, 2, 'a new subscription');
        const gone = after.changes.filter((x) => x.kind === 'contact');
        assert.deepEqual(gone.map((x) => [x.uri, x.state, x.event, x.kind === 'contact' && x.inferred]), [['sip:carol@10.0.0.1', 'terminated', 'unregistered', true]]);
        assert.ok(after.changes.some((x) => x.kind === 'registration' && x.event === 'unregistered'));
        assert.equal(after.snapshot.registrations.flatMap((r) => r.contacts).filter((x) => x.state === 'active').length, 0);
      });
    }

    it('sends Event, Accept and Expires in SUBSCRIBE', async () => {
      let seen: IncomingRequest | undefined;
      const n = await notifier({
        onSubscribe(req) {
          seen = req;
          req.respond(200, { headers: { expires: '600' } });
        },
      });
      const c = await client(n.ep);
      await c.sub.start();
      assert.equal(headerText(seen!.message, 'event'), 'reg');
      assert.equal(headerText(seen!.message, 'accept'), 'application/reginfo+xml');
      assert.equal(headerText(seen!.message, 'expires'), '600');
    });
  });
});
