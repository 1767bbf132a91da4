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
}
