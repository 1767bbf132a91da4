// A stored message over MSRP keeps its original sender, recipient, time,
// subject, type and bytes, and carries its stored id for duplicate detection.
import assert from 'node:assert/strict';
import { parseCpim, cpimBodyText } from '../../lib/cpim/cpim';
import { deferredAsCpim, deferredIdOfCpim, IMDN_NAMESPACE } from '../../lib/deferred/deferred-cpim';
import type { DeferredMessage } from '../../lib/deferred/message-store';

const base: DeferredMessage = {
  id: 'mjk2-0a1b2c',
  recipient: 'sip:alice@lab.test',
  sender: 'sip:bob@lab.test',
  senderName: 'Bob B.',
  contentType: 'text/plain;charset=utf-8',
  encoding: 'text',
  body: 'Hello Alice ✓',
  size: 15,
  subject: 'lunch',
  receivedAt: Date.parse('2026-12-01T09:59:58.250Z'),
  expiresAt: Date.parse('2026-12-08T10:00:00Z'),
  seq: 4,
};

describe('deferred message as message/cpim', () => {
  it('keeps the original sender, recipient, time, subject, content type and text', () => {
    const cpim = parseCpim(deferredAsCpim(base));
    assert.deepEqual(cpim.from, { name: 'Bob B.', uri: 'sip:bob@lab.test' });
    assert.deepEqual(cpim.to.map((a) => a.uri), ['sip:alice@lab.test']);
    assert.equal(Date.parse(cpim.dateTime!), base.receivedAt);
    assert.deepEqual(cpim.subject, [{ text: 'lunch' }]);
    assert.equal(cpim.contentType, 'text/plain;charset=utf-8');
    assert.equal(cpimBodyText(cpim), 'Hello Alice ✓');
  });

  it('carries the stored id as imdn.Message-ID, the same every time it is built', () => {
    const a = deferredAsCpim(base);
    assert.equal(deferredIdOfCpim(a), 'mjk2-0a1b2c');
    assert.ok(parseCpim(a).namespaces.some((n) => n.prefix === 'imdn' && n.uri === IMDN_NAMESPACE));
    assert.deepEqual(deferredAsCpim(base), a);
  });

  it('gives binary content back byte for byte', () => {
    const bytes = Buffer.from([0, 0xff, 0x0d, 0x0a, 0x0d, 0x0a, 0x80]);
    const m: DeferredMessage = { ...base, contentType: 'application/octet-stream', encoding: 'base64', body: bytes.toString('base64'), size: bytes.length };
    delete m.senderName;
    delete m.subject;
    const cpim = parseCpim(deferredAsCpim(m));
    assert.deepEqual(cpim.body, bytes);
    assert.deepEqual(cpim.from, { uri: 'sip:bob@lab.test' });
    assert.deepEqual(cpim.subject, []);
  });
});
