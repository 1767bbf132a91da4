// Re-export of the helper's node type for files that only need the type.
import type helper from 'node-red-node-test-helper';
export type TestNode = ReturnType<typeof helper.getNode>;
