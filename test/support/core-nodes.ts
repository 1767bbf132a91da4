// Node-RED's own nodes that our example flows use.
import { requireNodeRed } from './node-red-under-test';

const base = '@node-red/nodes/core';
export const coreNodes = [
  requireNodeRed(`${base}/common/20-inject.js`),
  requireNodeRed(`${base}/common/21-debug.js`),
  requireNodeRed(`${base}/common/90-comment.js`),
  requireNodeRed(`${base}/function/10-function.js`),
];
