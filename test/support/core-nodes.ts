// Node-RED's own nodes that our example flows use.
/* eslint-disable @typescript-eslint/no-require-imports */
const base = '@node-red/nodes/core';
export const coreNodes = [
  require(`${base}/common/20-inject.js`),
  require(`${base}/common/21-debug.js`),
  require(`${base}/common/90-comment.js`),
  require(`${base}/function/10-function.js`),
];
