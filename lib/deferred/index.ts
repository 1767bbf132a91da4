// Deferred messages (seed 003 12.2.2.2, seed 004 7.2.6): the store, the
// history-list metadata, the delivery decision, its triggers and INVITE, the CPIM wrapper.
export * from './message-store';
export * from './history-list';
export * from './delivery-plan';
export * from './delivery-triggers';
export * from './deferred-cpim';
export * from './delivery';
export * from './inbox';
