// Live trace to the editor: one batch per interval, bounded, newest kept.
import assert from 'node:assert/strict';
import { TraceBatcher, type TraceBatch } from '../../lib/trace/trace-batcher';
import { FakeScheduler } from '../support/fake-scheduler';

describe('trace: batches for the editor', () => {
  it('sends what arrived within an interval as one batch, then nothing until more arrives', () => {
    const clock = new FakeScheduler();
    const sent: TraceBatch<number>[] = [];
    const b = new TraceBatcher<number>(clock, (x) => sent.push(x), { intervalMs: 100, maxBatch: 50 });
    b.add(1);
    b.add(2);
    clock.advance(99);
    assert.equal(sent.length, 0);
    clock.advance(1);
    assert.deepEqual(sent, [{ entries: [1, 2], dropped: 0 }]);
    clock.advance(1000);
    assert.equal(sent.length, 1);
    assert.equal(clock.pending, 0);
  });

  it('turns a flood of 10,000 entries into one bounded batch of the newest, counting the rest', () => {
    const clock = new FakeScheduler();
    const sent: TraceBatch<number>[] = [];
    const b = new TraceBatcher<number>(clock, (x) => sent.push(x), { intervalMs: 100, maxBatch: 250 });
    for (let i = 1; i <= 10_000; i++) b.add(i);
    clock.advance(100);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.entries.length, 250);
    assert.equal(sent[0]!.entries[0], 9751);
    assert.equal(sent[0]!.entries.at(-1), 10_000);
    assert.equal(sent[0]!.dropped, 9750);
  });

  it('forgets what is pending when cancelled', () => {
    const clock = new FakeScheduler();
    const sent: TraceBatch<number>[] = [];
    const b = new TraceBatcher<number>(clock, (x) => sent.push(x));
    b.add(1);
    b.cancel();
    clock.advance(1000);
    assert.equal(sent.length, 0);
  });
});
