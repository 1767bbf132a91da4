// What a user checks after importing and deploying an example: its clients
// register, its server hears of them, reg event nodes report active
// registrations, every settings publication reaches the server through the
// core, and every watcher sees the entities of all clients of its user.
// Deferred messages: what is written waits; an inbox wired to its user's
// register node lists it after the registration; a user who asks (an inject
// that modifies the publication) or whose settings allow it gets the messages
// pushed with the original sender and time; what was not pushed still waits.
// Shared by the lab core run (test/nodes) and the Kamailio run (test/integration).
import assert from 'node:assert/strict';
import { collected, statusOf } from './collect';
import type { LoadedExample } from './examples';
import type helperModule from 'node-red-node-test-helper';

type Helper = typeof helperModule;

export async function checkExample(helper: Helper, ex: LoadedExample): Promise<void> {
  const taps = new Map(Object.entries(ex.taps).map(([dbg, tap]) => [dbg, collected(tap)]));
  const registers = ex.flow.filter((n) => n.type === 'oma-register');
  const injects = ex.flow.filter((n) => n.type === 'inject');

  // Deferred messages: someone writes first (the injects that feed a deliver node), then the recipient comes back.
  const delivers = ex.flow.filter((n) => n.type === 'oma-deliver-deferred');
  const written: { to: string; from: string; body: string; subject?: string; id: string; time: string; size: number }[] = [];
  for (const d of delivers) {
    const tap = taps.get((d.wires as string[][])[0]![0]!)!;
    for (const i of injects.filter((n) => (n.wires as string[][]).some((w) => w.includes(String(d.id))))) {
      helper.getNode(String(i.id)).receive({});
      const stored = await tap.event('stored');
      const input = JSON.parse(String(i.payload)) as { to: string; from: string; body: string; subject?: string };
      assert.equal(stored.payload.to, input.to);
      assert.equal(stored.payload.from, input.from);
      written.push({ ...input, id: stored.payload.id, time: stored.payload.time, size: stored.payload.size });
    }
    await statusOf(helper.getNode(String(d.id)), (st) => st.fill === 'green' && /^\d+ waiting for 1 user$/.test(st.text ?? ''), 3000, `${d.id} shows what waits`);
  }
  // A list-registering node starts from an inject, as a user would click it.
  for (const r of registers.filter((n) => n.registerOnStart === false)) {
    const feeder = injects.find((i) => String(i.payload) === 'register');
    assert.ok(feeder, `${r.id} needs an inject to start`);
    helper.getNode(String(feeder.id)).receive({ payload: 'register' });
  }
  for (const r of registers) {
    const dbg = (r.wires as string[][])[0]![0]!;
    const m = await taps.get(dbg)!.event('registered');
    assert.equal(m.payload.state, 'registered');
    await statusOf(helper.getNode(String(r.id)), (s) => s.fill === 'green', 3000, `${r.id} green`);
  }
  const tpr = ex.flow.find((n) => n.type === 'oma-third-party-register');
  const serverTap = taps.get((tpr!.wires as string[][])[0]![0]!)!;
  const m = await serverTap.event('registered');
  assert.match(m.payload.user, /^sip:(alice|bob|carol)@lab\.test$/);
  // Reg event nodes report the registration state of their users.
  for (const re of ex.flow.filter((n) => n.type === 'oma-reg-event')) {
    const tap = taps.get((re.wires as string[][])[0]![0]!)!;
    const u = await tap.next((x) => x.payload.event === 'update' && x.payload.registrations.some((r: any) => r.state === 'active'), 10000, 'an active reg event update');
    assert.match(u.payload.aor, /^sip:(alice|bob|carol)@lab\.test$/);
    await statusOf(helper.getNode(String(re.id)), (s) => s.fill === 'green', 3000, `${re.id} green`);
  }
  // Trace nodes show the challenged REGISTER, its digest response masked.
  for (const tr of ex.flow.filter((n) => n.type === 'oma-sip-trace')) {
    const tap = taps.get((tr.wires as string[][])[0]![0]!)!;
    const answer = await tap.next((x) => x.payload.method === 'REGISTER' && /\r\nAuthorization: /i.test(x.payload.raw ?? ''), 10000, 'a REGISTER with credentials');
    assert.match(answer.payload.raw, /response="\*{8}"/);
  }
  // Settings: every publication reaches the server through the core, and every
  // watcher ends up seeing the entities of all the clients of its user.
  const identityOf = (n: Record<string, unknown>) => String(ex.flow.find((u) => u.id === n.user)!.identity);
  const publishers = ex.flow.filter((n) => n.type === 'oma-publish-settings');
  const feeds = (from: Record<string, unknown>, to: Record<string, unknown>) => ((from.wires as string[][] | undefined) ?? []).some((w) => w.includes(String(to.id)));
  // What the user clicks later to change a publication (e.g. offline delivery on: "deliver them now").
  const asks = injects.filter((i) => i.payloadType === 'json' && publishers.some((p) => feeds(i, p)));
  const askedOfflineDelivery = (p: Record<string, unknown>) =>
    asks.filter((i) => feeds(i, p)).map((i) => (JSON.parse(String(i.payload)) as { im?: { offlineDelivery?: boolean } }).im?.offlineDelivery).find((v) => v !== undefined);
  /** Whether the user's settings, as finally published, have the server push the deferred messages. */
  const pushed = (aor: string) => publishers.some((p) => identityOf(p) === aor && (askedOfflineDelivery(p) ?? p.imOfflineDelivery === 'true'));
  const pushedAtRegistration = (aor: string) => publishers.some((p) => identityOf(p) === aor && p.imOfflineDelivery === 'true' && registers.some((r) => feeds(r, p)));
  const listed = (list: { payload: { messages: Array<Record<string, unknown>> } }) =>
    list.payload.messages.map((x) => ({ id: x.id, from: x.from, time: x.time, size: x.size, subject: x.subject }));
  const expectedList = (mine: typeof written) => mine.map((x) => ({ id: x.id, from: x.from, time: x.time, size: x.size, subject: x.subject }));

  // An inbox wired to its user's register node learns after the registration what waits
  // (seed 004 7.2.6.1): the metadata in one NOTIFY that ends the fetch, not the messages.
  for (const box of ex.flow.filter((n) => n.type === 'oma-inbox' && registers.some((r) => feeds(r, n)))) {
    const aor = identityOf(box);
    assert.ok(!pushedAtRegistration(aor), `${box.id}: the list after registration would race the delivery the settings start`);
    const tap = taps.get((box.wires as string[][])[0]![0]!)!;
    const list = await tap.event('waiting', 20000);
    assert.equal(list.payload.aor, aor);
    assert.deepEqual(listed(list), expectedList(written.filter((x) => x.to === aor)), 'sender, time, size, subject and id of each waiting message');
    assert.match(list.sip.raw, /^NOTIFY /);
    assert.match(list.sip.raw, /\r\nSubscription-State: *terminated/i, 'a fetch: the one NOTIFY ends the subscription');
    const n = written.filter((x) => x.to === aor).length;
    await statusOf(helper.getNode(String(box.id)), (st) => st.fill === 'green' && st.text === `0 messages received, ${n} waiting`, 3000, `${box.id} shows what waits`);
  }
  for (const p of publishers) {
    const published = await taps.get((p.wires as string[][])[0]![0]!)!.event('published');
    assert.equal(published.payload.aor, identityOf(p));
    assert.equal(published.sip.status, 200);
    assert.ok(published.sip.exchange.some((x: { method?: string }) => x.method === 'PUBLISH'), 'the PUBLISH is in msg.sip.exchange');
    await statusOf(helper.getNode(String(p.id)), (st) => st.fill === 'green', 3000, `${p.id} green`);
  }
  for (const srv of ex.flow.filter((n) => n.type === 'oma-settings-server')) {
    const tap = taps.get((srv.wires as string[][])[0]![0]!)!;
    for (const p of publishers) {
      const stored = await tap.next((x) => x.payload.event === 'published' && x.payload.aor === identityOf(p), 10000, `the server stores ${p.id}`);
      assert.ok(stored.payload.settings.entities.length >= 1);
      if (p.imOfflineDelivery) assert.equal(stored.payload.offlineDelivery, p.imOfflineDelivery === 'true', 'offline delivery as published');
    }
  }
  // Nothing was pushed yet to a user whose publication did not allow it; now the user asks for it.
  for (const box of ex.flow.filter((n) => n.type === 'oma-inbox')) {
    const tap = taps.get((box.wires as string[][])[0]![0]!)!;
    if (!pushedAtRegistration(identityOf(box))) assert.ok(!tap.received.some((x) => x.payload.event === 'message' && x.payload.via === 'msrp'), `${box.id}: nothing pushed before asked`);
  }
  for (const i of asks) {
    const p = publishers.find((x) => feeds(i, x))!;
    helper.getNode(String(i.id)).receive({});
    const modified = await taps.get((p.wires as string[][])[0]![0]!)!.event('modified', 20000);
    assert.equal(modified.payload.aor, identityOf(p));
    assert.match(modified.sip.exchange.find((x: { method?: string }) => x.method === 'PUBLISH').raw, /\r\nSIP-If-Match: /i, 'a modification of the publication');
    for (const srv of ex.flow.filter((n) => n.type === 'oma-settings-server')) {
      const tap = taps.get((srv.wires as string[][])[0]![0]!)!;
      const seen = await tap.next((x) => x.payload.event === 'modified' && x.payload.aor === identityOf(p), 10000, `the server sees ${i.id}`);
      assert.equal(seen.payload.offlineDelivery, askedOfflineDelivery(p));
    }
  }
  for (const w of ex.flow.filter((n) => n.type === 'oma-settings-watch')) {
    const mine = publishers.filter((p) => identityOf(p) === identityOf(w)).length;
    const tap = taps.get((w.wires as string[][])[0]![0]!)!;
    const seen = await tap.next((x) => x.payload.event === 'settings' && x.payload.settings.entities.length === mine, 10000, `${w.id} sees ${mine} entities`);
    assert.equal(seen.payload.aor, identityOf(w));
    assert.match(seen.sip.raw, /^NOTIFY /);
  }
  // Deferred messages reach the recipient's inbox with the original sender and time; the server
  // reports each message and the session, and nothing is left waiting.
  for (const d of delivers) {
    const tap = taps.get((d.wires as string[][])[0]![0]!)!;
    for (const w of written.filter((x) => pushed(x.to))) {
      const delivered = await tap.next((x) => x.payload.event === 'delivered' && x.payload.id === w.id, 20000, `${w.id} delivered`);
      assert.equal(delivered.payload.from, w.from);
    }
    // One session per recipient carries all that waited for them.
    for (const to of new Set(written.filter((x) => pushed(x.to)).map((x) => x.to))) {
      const session = await tap.next((x) => x.payload.event === 'session' && x.payload.aor === to, 20000, `the session to ${to}`);
      assert.equal(session.payload.outcome, 'delivered');
      assert.deepEqual(session.payload.delivered, written.filter((x) => x.to === to).map((x) => x.id));
      assert.equal(session.payload.remaining, 0);
    }
  }
  for (const box of ex.flow.filter((n) => n.type === 'oma-inbox')) {
    const tap = taps.get((box.wires as string[][])[0]![0]!)!;
    const mine = written.filter((x) => x.to === identityOf(box));
    for (const w of mine.filter((x) => pushed(x.to))) {
      const m = await tap.next((x) => x.payload.event === 'message' && x.payload.body === w.body, 20000, `${box.id} receives ${w.id}`);
      assert.equal(m.payload.from, w.from, 'the original sender');
      assert.equal(m.payload.time, w.time, 'the original time');
      assert.equal(m.payload.id, w.id, 'the id the server listed it under');
    }
    // Fetching the list, as a user clicks it: what was delivered no longer waits.
    const feeder = injects.find((i) => (i.wires as string[][]).some((x) => x.includes(String(box.id))) && String(i.payload) === 'fetch');
    if (!feeder) continue;
    helper.getNode(String(feeder.id)).receive({});
    const list = await tap.event('waiting', 20000);
    assert.deepEqual(listed(list), expectedList(mine.filter((x) => !pushed(x.to))), 'what was delivered no longer waits, the rest does');
  }
}
