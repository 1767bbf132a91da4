// The settings server without Node-RED: one SipEndpoint + SettingsServer +
// Publications in this process (journal store, or memory with
// BENCH_PERSIST=0), SIPp playing the trusted core with bench/sipp/publish.xml.
// For profiling the PUBLISH path (node --cpu-prof dist/bench/settings-standalone.js):
// it prints PUBLISH/s and this process's CPU time per PUBLISH.
//
//   BENCH_USERS=1000 BENCH_CALLS=4000 BENCH_ROUNDS=3 node dist/bench/settings-standalone.js
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SettingsServer } from '../lib/server/settings-server';
import { Publications, type StoredPublication } from '../lib/settings/publications';
import { SipEndpoint } from '../lib/sip/endpoint';
import { TrustedSources } from '../lib/sip/trusted-sources';
import { JournalStore } from '../lib/store/journal-store';
import { MemoryStore } from '../lib/store/memory-store';
import type { KeyValueStore } from '../lib/store/store';
import { freePort } from '../test/support/free-port';
import { PUBLISH_PER_CALL, scenario, sippClient } from './sipp/sipp-client';
import { benchUsers, writeSippCsv } from './sipp/users';

const DOMAIN = 'lab.test';

async function main(): Promise<void> {
  const n = Number(process.env.BENCH_USERS ?? 1000);
  const calls = Number(process.env.BENCH_CALLS ?? 4 * n);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const concurrency = Number(process.env.BENCH_SIPP_CONCURRENCY ?? 50);
  const persist = process.env.BENCH_PERSIST !== '0';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-settings-standalone-'));
  const csv = path.join(dir, 'users.csv');
  writeSippCsv(csv, benchUsers(n), DOMAIN);
  const serverPort = await freePort();
  const corePort = await freePort();
  const endpoint = new SipEndpoint({ transport: 'udp', address: '127.0.0.1', port: serverPort });
  await endpoint.start();
  const store: KeyValueStore<StoredPublication> = persist ? new JournalStore<StoredPublication>(path.join(dir, 'store')) : new MemoryStore<StoredPublication>();
  const publications = new Publications({ store, minExpires: 60, maxExpires: 7200 });
  await publications.load();
  const server = new SettingsServer(endpoint, {
    publications,
    trusted: new TrustedSources([{ host: '127.0.0.1', port: corePort }]),
    featureTags: ['+g.poc.talkburst', '+g.oma.sip-im'],
  });
  let events = 0;
  server.on('settings', () => events++);
  endpoint.addHandler(server.handle);
  try {
    await sippClient(serverPort, corePort, scenario('publish.xml'), csv, Math.min(calls, n), concurrency);
    for (let r = 0; r < rounds; r++) {
      const cpu0 = process.cpuUsage();
      const run = await sippClient(serverPort, corePort, scenario('publish.xml'), csv, calls, concurrency);
      const cpu = process.cpuUsage(cpu0);
      const publishes = run.ok * PUBLISH_PER_CALL;
      console.log(
        `round ${r + 1}: ${Math.round(publishes / run.seconds)} PUBLISH/s, failed calls ${run.failed}, ` +
          `${Math.round((cpu.user + cpu.system) / publishes)} us CPU per PUBLISH (user ${Math.round(cpu.user / publishes)})`,
      );
    }
    console.log(`settings events ${events}`);
    if (store instanceof JournalStore) console.log('journal', JSON.stringify(store.stats));
  } finally {
    server.close();
    publications.close();
    await publications.idle();
    await store.close();
    await endpoint.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(e.message);
    process.exit(1);
  },
);
