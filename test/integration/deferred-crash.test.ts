// Deferred delivery survives a crash of the server (SPEC "Deferred messages",
// seed 003 12.2.2.2): the IM server (settings server and deliver node) runs in
// a Node-RED child process with a user directory of its own, holding a few
// thousand stored messages; the core and alice (register, publisher, inbox)
// run in this process, as an IMS core and a phone outlive an application
// server. Once alice's inbox has output some of the messages the server is
// killed with SIGKILL (its journal then gets a torn last record, as a kill
// during an append leaves), started again on the same user directory and
// ports, and alice's client only refreshes her settings, as it does on its
// timer (the restarted deliver node's trigger: the settings server read her
// publication back, and no session was tried since the start). Every
// message then reached the inbox's output exactly once, in order, with its
// original sender and time; the store is empty; and the redeliveries the inbox
// dropped are no more than the SENDs the server had in flight (its window).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeferredMessageStore, type DeferredMessage } from '../../lib/deferred/message-store';
import { deleteBody, encodeRecord, parseFileName } from '../../lib/store/journal-format';
import { JournalStore } from '../../lib/store/journal-store';
import { collected } from '../support/collect';
import { freePort } from '../support/free-port';
import { useNodeRedHelper } from '../support/helper-lifecycle';
import { labFlow } from '../support/lab-flow';
import { startNodeRed, type NodeRedProcess } from '../support/node-red-process';
import { allNodes } from '../support/nodes';
import { waitFor } from '../support/wait';

const ALICE = 'sip:alice@lab.test';
const SENDERS = ['sip:bob@lab.test', 'sip:carol@lab.test'];
/** Enough that the kill, issued when the inbox has output its first message, lands mid-session. */
const MESSAGES = 4000;
/** DeferredDelivery's default SENDs in flight at once. */
const WINDOW = 256;

interface LogLine {
  event: string;
  [k: string]: unknown;
}

/** The server: endpoint, third-party register, settings server into the deliver node, whose output is appended to a file. */
function serverFlow(serverPort: number, corePort: number, logFile: string): Record<string, unknown>[] {
  const z = 'server';
  return [
    { id: z, type: 'tab', label: 'IM server' },
    { id: 'ep-server', type: 'oma-sip-endpoint', transport: 'udp', address: '127.0.0.1', port: serverPort, coreHost: '127.0.0.1', corePort, domain: 'lab.test', t1: 500 },
    { id: 'tpr', type: 'oma-third-party-register', z, endpoint: 'ep-server', wires: [[]] },
    { id: 'settings', type: 'oma-settings-server', z, endpoint: 'ep-server', persist: true, wires: [['deliver']] },
    { id: 'deliver', type: 'oma-deliver-deferred', z, endpoint: 'ep-server', persist: true, infoEvent: 'deferred-messages', wires: [['log']] },
    // One line each time the flow starts, so that the test knows the server is up again.
    { id: 'started', type: 'inject', z, props: [{ p: 'payload' }], payload: '{"event":"started"}', payloadType: 'json', once: true, onceDelay: 0.1, repeat: '', wires: [['log']] },
    { id: 'log', type: 'file', z, filename: logFile, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none', wires: [] },
  ];
}

function readLog(file: string): LogLine[] {
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file, 'utf8');
  // A line being written has no newline yet: only whole lines count.
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogLine);
}

/** The messages waiting for alice before the server first starts, written where the deliver node keeps them. */
async function storeMessages(dir: string): Promise<DeferredMessage[]> {
  const journal = new JournalStore<DeferredMessage>(dir);
  const messages = new DeferredMessageStore({ store: journal });
  await messages.load();
  const base = Date.parse('2026-03-04T05:06:07.089Z');
  const stored: DeferredMessage[] = [];
  for (let i = 0; i < MESSAGES; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(MESSAGES, i + 500); j++) {
      batch.push(messages.add({ recipient: ALICE, sender: SENDERS[j % SENDERS.length]!, contentType: 'text/plain;charset=utf-8', body: `message ${j}: ${'x'.repeat(100)}`, time: base + j * 1001 }));
    }
    stored.push(...(await Promise.all(batch)));
  }
  messages.close();
  await journal.close();
  return stored.sort((a, b) => a.seq - b.seq);
}

async function storedOnDisk(dir: string): Promise<Map<string, DeferredMessage>> {
  const journal = new JournalStore<DeferredMessage>(dir);
  try {
    return await journal.load();
  } finally {
    await journal.close();
  }
}

/**
 * What a kill during an append leaves (a real kill rarely lands inside the
 * write, so it is made here): the first part of the delete record of `id` at
 * the end of the newest journal. That delete was never acknowledged, so the
 * message must still count as waiting.
 */
function tearJournal(dir: string, id: string): void {
  const journals = fs
    .readdirSync(dir)
    .map((name) => ({ name, f: parseFileName(name) }))
    .filter((x) => x.f?.kind === 'journal' && !x.f.temp)
    .sort((a, b) => b.f!.generation - a.f!.generation);
  const record = encodeRecord(deleteBody(id));
  fs.appendFileSync(path.join(dir, journals[0]!.name), record.subarray(0, record.length - 7));
}

describe('integration: deferred delivery when the server is killed mid-session', function () {
  this.timeout(300000);
  const helper = useNodeRedHelper();
  const servers: NodeRedProcess[] = [];
  let userDir: string | undefined;
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.kill();
    await helper.unload();
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
    userDir = undefined;
  });

  it('loses no message: each reaches the inbox once, in order, with its sender and time, and the store ends empty', async () => {
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-crash-'));
    const storeDir = path.join(userDir, 'oma-sip', 'deliver');
    const logFile = path.join(userDir, 'deliver-log.jsonl');
    const stored = await storeMessages(storeDir);
    const corePort = await freePort();
    const serverPort = await freePort();

    // The server, first run.
    const first = await startNodeRed({ userDir });
    servers.push(first);
    await first.deploy(serverFlow(serverPort, corePort, logFile));
    await waitFor(() => readLog(logFile).some((l) => l.event === 'started'), 'the server flow to start', 60000);

    // The core and alice, here: she registers on start, and her publisher follows the registration.
    const { flow, credentials } = labFlow({ corePort, serverPort, withLabCore: true, users: [{ id: 'alice', identity: ALICE, password: 'alice-pw', enabler: 'im' }] });
    const clientFlow = flow.filter((n) => n.id !== 'ep-server' && n.id !== 'tpr' && n.id !== 'tpr-out');
    clientFlow.find((n) => n.id === 'core')!.settingsEvents = 'poc-settings deferred-messages';
    (clientFlow.find((n) => n.id === 'reg-alice')!.wires as string[][])[0]!.push('pub');
    clientFlow.push(
      { id: 'pub', type: 'oma-publish-settings', endpoint: 'ep-client', user: 'user-alice', imOfflineDelivery: 'true', imIsb: 'false', wires: [['pub-out']] },
      { id: 'pub-out', type: 'collect' },
      { id: 'inbox', type: 'oma-inbox', endpoint: 'ep-client', user: 'user-alice', infoEvent: 'deferred-messages', wires: [['inbox-out']] },
      { id: 'inbox-out', type: 'collect' },
    );
    await helper.load(allNodes, clientFlow, credentials);
    const dropped: string[] = [];
    const ended: string[] = [];
    helper.getNode('inbox').on('call:debug', (c: { args: unknown[] }) => {
      const line = String(c.args[0]);
      if (/received again/.test(line)) dropped.push(line);
      if (/delivery session .*: terminated/.test(line)) ended.push(line);
    });
    const inboxOut = collected('inbox-out');
    const pubOut = collected('pub-out');
    await pubOut.event('published', 60000);

    // The crash: as soon as the inbox has output a message.
    const firstMessage = await inboxOut.event('message', 120000);
    await first.kill();
    // Counted on a copy: opening the journal recovers it, which is the restarted server's job.
    const copy = path.join(userDir, 'store-at-crash');
    fs.cpSync(storeDir, copy, { recursive: true });
    const left = [...(await storedOnDisk(copy)).values()].sort((a, b) => a.seq - b.seq);
    const remainingAtRestart = left.length;
    assert.ok(remainingAtRestart > 0, `the session ended before the kill: store more than ${MESSAGES}`);
    assert.ok(!readLog(logFile).some((l) => l.event === 'session'), 'the first session never ended');
    tearJournal(storeDir, left[0]!.id);

    // The server again, on the same user directory and ports; alice's client refreshes her publication, as on its timer.
    const second = await startNodeRed({ userDir, port: first.port });
    servers.push(second);
    await waitFor(() => readLog(logFile).filter((l) => l.event === 'started').length === 2, 'the server flow to start again', 60000);
    // What the inbox had output when the server went (it read what was on the wire before the connection closed).
    const outputBeforeRestart = inboxOut.received.length + 1;
    assert.ok(outputBeforeRestart < MESSAGES, `the kill came after all ${MESSAGES} messages: store more`);
    helper.getNode('pub').receive({ payload: 'refresh' });
    const refresh = await pubOut.next(() => true, 60000, 'alice’s refresh');
    assert.equal(refresh.payload.event, 'refreshed', `the server took the refresh (no new publication): ${JSON.stringify(refresh.payload)}`);
    await waitFor(() => readLog(logFile).some((l) => l.event === 'session'), 'the delivery session after the restart', 240000);
    const lines = readLog(logFile);
    const restart = lines.map((l) => l.event).lastIndexOf('started');
    const session = lines.find((l) => l.event === 'session')!;
    assert.equal(session.outcome, 'delivered', JSON.stringify(session));
    assert.equal(session.remaining, 0);
    assert.equal((session.delivered as string[]).length, remainingAtRestart, 'the second session sent what the crash left stored');
    assert.equal(lines.slice(restart).filter((l) => l.event === 'delivered').length, remainingAtRestart);
    assert.ok(!lines.some((l) => l.event === 'failed'), 'no message failed');

    // Every stored message came out of the inbox once, in order, with its sender and time.
    await waitFor(() => inboxOut.received.length + 1 >= MESSAGES, 'every message out of the inbox', 60000);
    const out = [firstMessage, ...inboxOut.received].map((m) => m.payload);
    assert.equal(out.length, MESSAGES, 'no message output twice');
    assert.deepEqual(
      out.map((p) => ({ id: p.id, from: p.from, time: p.time, body: p.body, via: p.via })),
      stored.map((m) => ({ id: m.id, from: m.sender, time: new Date(m.receivedAt).toISOString(), body: m.body, via: 'msrp' })),
    );

    // The redeliveries the inbox dropped: the SENDs it had answered whose 200 the server had not made durable (deleted) before the kill.
    assert.equal(dropped.length, remainingAtRestart - (MESSAGES - outputBeforeRestart), 'each SEND after the restart was output or dropped as a duplicate');
    assert.ok(dropped.length <= WINDOW, `${dropped.length} redeliveries dropped: more than the ${WINDOW} SENDs in flight`);
    console.log(`      killed with ${outputBeforeRestart} of ${MESSAGES} output, ${MESSAGES - remainingAtRestart} deleted; ${remainingAtRestart} sent again, ${dropped.length} of them dropped as duplicates`);

    // Alice's side ended both sessions: the one of the dead server (its MSRP connection dropped) and the last one (its BYE).
    await waitFor(() => ended.length === 2, 'both sessions ended at the inbox', 60000);
    assert.ok(ended.some((l) => /local-bye/.test(l)) && ended.some((l) => /remote-bye/.test(l)), ended.join('\n'));

    // The store is empty on disk, and the restarted server logged no error.
    await second.stop();
    assert.equal((await storedOnDisk(storeDir)).size, 0, 'nothing left stored');
    assert.doesNotMatch(second.log(), /\[error\]/, 'the restarted server logged an error');
    assert.match(second.log(), /torn last record/, 'the restarted server says it cut the torn record off');
  });
});
