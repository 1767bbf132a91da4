// What a user checks after importing and deploying an example: its clients
// register, its server hears of them, reg event nodes report active
// registrations, every settings publication reaches the server through the
// core, and every watcher sees the entities of all clients of its user. Shared
// by the lab core run (test/nodes) and the Kamailio run (test/integration).
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
  const written: { to: string; from: string; body: string; id: string; time: string }[] = [];
  for (const d of delivers) {
    const tap = taps.get((d.wires as string[][])[0]![0]!)!;
    for (const i of injects.filter((n) => (n.wires as string[][]).some((w) => w.includes(String(d.id))))) {
      helper.getNode(String(i.id)).receive({});
      const stored = await tap.event('stored');
      const input = JSON.parse(String(i.payload)) as { to: string; from: string; body: string };
      assert.equal(stored.payload.to, input.to);
      assert.equal(stored.payload.from, input.from);
      written.push({ ...input, id: stored.payload.id, time: stored.payload.time });
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
  for (const w of ex.flow.filter((n) => n.type === 'oma-settings-watch')) {
    const mine = publishers.filter((p) => identityOf(p) === identityOf(w)).length;
    const tap = taps.get((w.wires as string[][])[0]![0]!)!;
    const seen = await tap.next((x) => x.payload.event === 'settings' && x.payload.settings.entities.length === mine, 10000, `${w.id} sees ${mine} entities`);
    assert.equal(seen.payload.aor, identityOf(w));
    assert.match(seen.sip.raw, /^NOTIFY /);
  }
  // Deferred messages reach the recipient's inbox with the original sender and time; the server
  // reports each message and the session, and nothing is left waiting.
  const published = (aor: string) => publishers.some((p) => identityOf(p) === aor && p.imOfflineDelivery === 'true');
  for (const d of delivers) {
    const tap = taps.get((d.wires as string[][])[0]![0]!)!;
    for (const w of written.filter((x) => published(x.to))) {
      const delivered = await tap.next((x) => x.payload.event === 'delivered' && x.payload.id === w.id, 20000, `${w.id} delivered`);
      assert.equal(delivered.payload.from, w.from);
      const session = await tap.next((x) => x.payload.event === 'session' && x.payload.aor === w.to, 20000, `the session to ${w.to}`);
      assert.equal(session.payload.outcome, 'delivered');
      assert.equal(session.payload.remaining, 0);
    }
  }
  for (const box of ex.flow.filter((n) => n.type === 'oma-inbox')) {
    const tap = taps.get((box.wires as string[][])[0]![0]!)!;
    const mine = written.filter((x) => x.to === identityOf(box));
    for (const w of mine.filter((x) => published(x.to))) {
      const m = await tap.next((x) => x.payload.event === 'message' && x.payload.body === w.body, 20000, `${box.id} receives ${w.id}`);
      assert.equal(m.payload.from, w.from, 'the original sender');
      assert.equal(m.payload.time, w.time, 'the original time');
    }
    // Fetching the list, as a user clicks it: what was delivered no longer waits.
    const feeder = injects.find((i) => (i.wires as string[][]).some((x) => x.includes(String(box.id))) && String(i.payload) === 'fetch');
    if (!feeder) continue;
    helper.getNode(String(feeder.id)).receive({});
    const list = await tap.event('waiting', 20000);
    const left = mine.filter((x) => !published(x.to)).map((x) => x.id);
    assert.deepEqual(list.payload.messages.map((x: { id: string }) => x.id), left);
  }
}
