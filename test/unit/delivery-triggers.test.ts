// When the IM server starts a delivery session beyond the seed's trigger: a
// refresh after a restart, a message stored while delivery is allowed, the
// end of a session during which a message came; never two sessions for one
// user, and the retry interval after a session that ended short. Time is a
// fake clock.
import assert from 'node:assert/strict';
import { DEFAULT_DELIVERY_RETRY_INTERVAL, DeliveryTriggers } from '../../lib/deferred/delivery-triggers';
import { FakeScheduler } from '../support/fake-scheduler';

const ALICE = 'sip:alice@lab.test';
const BOB = 'sip:bob@lab.test';

function triggers(retryInterval = 300) {
  const clock = new FakeScheduler();
  return { clock, t: new DeliveryTriggers({ retryInterval, scheduler: clock }) };
}

describe('deferred delivery triggers', () => {
  it('a refresh with offline delivery active and messages waiting delivers when nothing was tried since the start (a restarted server)', () => {
    const { t } = triggers();
    assert.deepEqual(t.settings(ALICE, 'refreshed', true, 3), { deliver: true, reason: 'refresh-first', waiting: 3 });
  });

  it('a refresh delivers nothing when offline delivery is off or unset, or nothing waits', () => {
    const { t } = triggers();
    assert.deepEqual(t.settings(ALICE, 'refreshed', false, 3), { deliver: false, reason: 'offline-delivery-inactive', waiting: 3 });
    assert.equal(t.settings(ALICE, 'refreshed', undefined, 3).reason, 'offline-delivery-unset');
    assert.deepEqual(t.settings(ALICE, 'refreshed', true, 0), { deliver: false, reason: 'nothing-waiting', waiting: 0 });
  });

  it('a new publication delivers as the seed says, even while backing off; removal and expiry do not', () => {
    const { t } = triggers();
    t.started(ALICE);
    t.ended(ALICE, true, 2);
    assert.deepEqual(t.settings(ALICE, 'published', true, 2), { deliver: true, reason: 'new-settings', waiting: 2 });
    assert.equal(t.settings(ALICE, 'modified', true, 2).deliver, true);
    assert.equal(t.settings(ALICE, 'modified', false, 2).deliver, false);
    assert.deepEqual(t.settings(ALICE, 'removed', true, 2), { deliver: false, reason: 'no-trigger', waiting: 2 });
    assert.equal(t.settings(ALICE, 'expired', true, 2).deliver, false);
  });

  it('never starts a second session for a user while one runs; another user is not held', () => {
    const { t } = triggers();
    assert.equal(t.settings(ALICE, 'refreshed', true, 2).deliver, true);
    t.started(ALICE);
    assert.equal(t.running(ALICE), true);
    for (const d of [t.settings(ALICE, 'refreshed', true, 2), t.settings(ALICE, 'published', true, 2), t.stored(ALICE, 3), t.requested(ALICE, 3)]) {
      assert.deepEqual(d, { deliver: false, reason: 'session-running', waiting: d.waiting });
    }
    assert.equal(t.settings(BOB, 'refreshed', true, 1).deliver, true, 'bob has his own session');
    assert.equal(t.stored('sip:alice@LAB.test;transport=tcp', 3).reason, 'session-running', 'alice however her address is written');
  });

  it('after a session that ended short, refreshes and stored messages wait the retry interval; then one refresh retries', () => {
    const { t, clock } = triggers(300);
    t.settings(ALICE, 'refreshed', true, 2);
    t.started(ALICE);
    assert.deepEqual(t.ended(ALICE, true, 2), { deliver: false, reason: 'backing-off', waiting: 2 });
    clock.advance(299_999);
    assert.deepEqual(t.settings(ALICE, 'refreshed', true, 2), { deliver: false, reason: 'backing-off', waiting: 2 });
    assert.deepEqual(t.stored(ALICE, 3), { deliver: false, reason: 'backing-off', waiting: 3 });
    clock.advance(1);
    assert.deepEqual(t.settings(ALICE, 'refreshed', true, 3), { deliver: true, reason: 'refresh-retry', waiting: 3 });
    // The retry fails too: the interval starts again from its end.
    t.started(ALICE);
    clock.advance(40_000);
    t.ended(ALICE, true, 3);
    clock.advance(299_000);
    assert.equal(t.settings(ALICE, 'refreshed', true, 3).reason, 'backing-off');
    clock.advance(1_000);
    assert.equal(t.stored(ALICE, 4).reason, 'stored-while-active', 'past the interval a stored message tries again');
  });

  it('counts the retry interval in seconds, 0 meaning none, and refuses a negative one', () => {
    const { t } = triggers(0);
    t.started(ALICE);
    t.ended(ALICE, true, 1);
    assert.equal(t.settings(ALICE, 'refreshed', true, 1).reason, 'refresh-retry');
    assert.equal(DEFAULT_DELIVERY_RETRY_INTERVAL, 300);
    assert.throws(() => new DeliveryTriggers({ retryInterval: -1 }), /retry interval -1/);
  });

  it('a refresh after a clean session delivers what came since', () => {
    const { t } = triggers();
    t.started(ALICE);
    assert.deepEqual(t.ended(ALICE, false, 0), { deliver: false, reason: 'no-trigger', waiting: 0 });
    assert.deepEqual(t.settings(ALICE, 'refreshed', true, 1), { deliver: true, reason: 'refresh-after-clean', waiting: 1 });
  });

  it('a stored message delivers only once the settings server said offline delivery is active, and as it says now', () => {
    const { t } = triggers();
    assert.deepEqual(t.stored(ALICE, 1), { deliver: false, reason: 'settings-unknown', waiting: 1 }, 'nothing seen of alice yet');
    t.settings(ALICE, 'published', false, 1);
    assert.equal(t.stored(ALICE, 2).reason, 'settings-unknown');
    t.settings(ALICE, 'modified', true, 0);
    assert.deepEqual(t.stored(ALICE, 1), { deliver: true, reason: 'stored-while-active', waiting: 1 });
    t.settings(ALICE, 'expired', undefined, 1);
    assert.equal(t.stored(ALICE, 2).deliver, false, 'her publications expired');
    assert.equal(t.stored(BOB, 1).deliver, false, 'alice’s settings are not bob’s');
  });

  it('a message stored during a session that then ended clean starts the next session; one stored during a failed session waits', () => {
    const { t } = triggers();
    t.settings(ALICE, 'published', true, 1);
    t.started(ALICE);
    t.stored(ALICE, 2);
    assert.deepEqual(t.ended(ALICE, false, 1), { deliver: true, reason: 'stored-during-session', waiting: 1 });
    t.started(ALICE);
    t.stored(ALICE, 2);
    assert.deepEqual(t.ended(ALICE, false, 0), { deliver: false, reason: 'nothing-waiting', waiting: 0 }, 'the session took it');
    t.started(ALICE);
    t.stored(ALICE, 2);
    assert.deepEqual(t.ended(ALICE, true, 2), { deliver: false, reason: 'backing-off', waiting: 2 });
    t.started(ALICE);
    assert.deepEqual(t.ended(ALICE, false, 1), { deliver: false, reason: 'no-trigger', waiting: 1 }, 'nothing was stored during this one');
  });

  it('the flow’s request starts a session whatever the back-off', () => {
    const { t } = triggers();
    t.started(ALICE);
    t.ended(ALICE, true, 1);
    assert.deepEqual(t.requested(ALICE, 1), { deliver: true, reason: 'requested', waiting: 1 });
  });
});
