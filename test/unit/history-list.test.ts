// The history-list document (OMA IM deferred-list, urn:oma:xml:im:history-list):
// written and read back unchanged, read by namespace not prefix, tolerant of
// what it does not know, and refusing hostile input.
import assert from 'node:assert/strict';
import {
  HISTORY_LIST_NAMESPACE,
  historyListOf,
  readHistoryList,
  writeHistoryList,
  writeHistoryListWithin,
  type HistoryList,
} from '../../lib/deferred/history-list';
import type { DeferredMessage } from '../../lib/deferred/message-store';
import { parseXml } from '../../lib/xml/safe-xml';

function read(text: string): HistoryList {
  const r = readHistoryList(text);
  if (!r.ok) assert.fail(r.error);
  return r.list;
}

function refused(text: string, pattern: RegExp): void {
  const r = readHistoryList(text);
  assert.equal(r.ok, false, 'accepted');
  if (!r.ok) assert.match(r.error, pattern);
}

const FULL: HistoryList = {
  entries: [
    {
      reference: 'mjk2-0a1b2c3d4e5f',
      size: 1234,
      expiry: '2026-12-08T10:00:00.000Z',
      subject: 'Lunch <today> & "tomorrow"',
      date: '2026-12-01T10:00:00.000Z',
      pager: { timeStamp: '2026-12-01T09:59:58.000Z', from: 'sip:bob@lab.test', to: ['sip:alice@lab.test'] },
    },
    { reference: 'second', size: 0 },
    { reference: 'third', pager: { to: ['sip:a@lab.test', 'tel:+15551234'] } },
  ],
};

describe('history-list (deferred-message metadata)', () => {
  it('writes a document in the history-list namespace that reads back unchanged', () => {
    const text = writeHistoryList(FULL);
    const parsed = parseXml(text);
    assert.ok(parsed.ok);
    if (parsed.ok) {
      assert.equal(parsed.root.ns, HISTORY_LIST_NAMESPACE);
      assert.equal(parsed.root.name, 'history-list');
      assert.equal(parsed.root.children.length, 3);
    }
    assert.match(text, /<subject>Lunch &lt;today&gt; &amp; "tomorrow"<\/subject>/);
    assert.deepEqual(read(text), FULL);
    assert.equal(writeHistoryList(read(text)), text, 'writing what was read gives the same text');
  });

  it('writes an empty list as an empty history-list', () => {
    const text = writeHistoryList({ entries: [] });
    assert.deepEqual(read(text), { entries: [] });
    assert.match(text, /<history-list xmlns="urn:oma:xml:im:history-list"\/>/);
  });

  it('gives the metadata of stored messages: id, size, expiry, date, original sender and time', () => {
    const m: DeferredMessage = {
      id: 'abc-1',
      recipient: 'sip:alice@lab.test',
      sender: 'sip:bob@lab.test',
      contentType: 'text/plain',
      encoding: 'text',
      body: 'hello',
      size: 5,
      subject: 'hi',
      receivedAt: Date.parse('2026-12-01T10:00:00Z'),
      expiresAt: Date.parse('2026-12-08T10:00:00Z'),
      seq: 1,
    };
    assert.deepEqual(read(writeHistoryList(historyListOf([m]))).entries, [
      {
        reference: 'abc-1',
        size: 5,
        subject: 'hi',
        expiry: '2026-12-08T10:00:00.000Z',
        date: '2026-12-01T10:00:00.000Z',
        pager: { timeStamp: '2026-12-01T10:00:00.000Z', from: 'sip:bob@lab.test', to: ['sip:alice@lab.test'] },
      },
    ]);
  });

  it('reads by namespace, whatever the prefix, and skips what it does not know', () => {
    const text = `<?xml version="1.0"?>
      <h:history-list xmlns:h="${HISTORY_LIST_NAMESPACE}" xmlns:v="urn:vendor:x">
        <h:history h:id="7" other="x">
          <h:history-reference> ref-1 </h:history-reference>
          <h:size>not a number</h:size>
          <v:size>99</v:size>
          <h:conference><h:participant/></h:conference>
          <h:pager><h:from>sip:bob@lab.test</h:from><h:auth-id>x</h:auth-id><h:recipient-list/></h:pager>
          <h:unknown>z</h:unknown>
        </h:history>
        <v:history><v:history-reference>not ours</v:history-reference></v:history>
        <history xmlns="${HISTORY_LIST_NAMESPACE}"><history-reference>ref-2</history-reference><size>3</size></history>
      </h:history-list>`;
    assert.deepEqual(read(text).entries, [
      { reference: 'ref-1', pager: { from: 'sip:bob@lab.test', to: [] } },
      { reference: 'ref-2', size: 3 },
    ]);
  });

  it('refuses a document that is not a history-list in its namespace', () => {
    refused('<history-list><history><history-reference>x</history-reference></history></history-list>', /not a history-list/);
    refused(`<list xmlns="${HISTORY_LIST_NAMESPACE}"/>`, /not a history-list: the root is \{urn:oma:xml:im:history-list\}list/);
    refused(`<history-list xmlns="${HISTORY_LIST_NAMESPACE}"><history><size>1</size></history></history-list>`, /history 1 has no history-reference/);
  });

  it('refuses hostile input without expanding it', () => {
    const ns = HISTORY_LIST_NAMESPACE;
    refused(
      `<?xml version="1.0"?><!DOCTYPE h [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><history-list xmlns="${ns}"><history><history-reference>&b;</history-reference></history></history-list>`,
      /DOCTYPE is not allowed/,
    );
    refused(`<history-list xmlns="${ns}"><history><history-reference>&xxe;</history-reference></history></history-list>`, /entity reference &xxe; is not allowed/);
    refused(`<history-list xmlns="${ns}">${'<history><history-reference>x</history-reference></history>'.repeat(2000)}</history-list>`, /bytes exceeds 65536/);
    refused(`<history-list xmlns="${ns}">${'<a>'.repeat(100)}${'</a>'.repeat(100)}</history-list>`, /nesting deeper/);
    refused(`<history-list xmlns="${ns}"><history>`, /malformed/);
    refused('', /no root element|malformed/);
  });

  it('reads a larger list when the caller allows more than 64 KiB', () => {
    const big: HistoryList = { entries: Array.from({ length: 2000 }, (_, i) => ({ reference: `m${i}`, size: i })) };
    const text = writeHistoryList(big);
    assert.ok(text.length > 65536);
    const r = readHistoryList(text, { maxBytes: 1024 * 1024 });
    assert.ok(r.ok);
    if (r.ok) assert.deepEqual(r.list, big);
  });

  it('writes as many entries as fit in a byte budget, from the first, and says how many did not', () => {
    const list: HistoryList = { entries: Array.from({ length: 1000 }, (_, i) => ({ reference: `message-${i}`, size: 10, subject: 'é'.repeat(20) })) };
    const within = writeHistoryListWithin(list, 8192);
    assert.ok(Buffer.byteLength(within.text, 'utf8') <= 8192);
    assert.ok(within.included > 10);
    assert.equal(within.included + within.omitted, 1000);
    assert.deepEqual(read(within.text).entries, list.entries.slice(0, within.included));
    assert.deepEqual(writeHistoryListWithin(list, 10), { text: writeHistoryList({ entries: [] }), included: 0, omitted: 1000 });
  });
});
