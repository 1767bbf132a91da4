// The pack's node modules, loaded as the test helper wants them.
/* eslint-disable @typescript-eslint/no-require-imports */
import { collectNode } from './collect';
export const allNodes = [
  require('../../nodes/oma-sip-endpoint'),
  require('../../nodes/oma-sip-user'),
  require('../../nodes/oma-register'),
  require('../../nodes/oma-third-party-register'),
  require('../../nodes/oma-lab-core'),
  require('../../nodes/oma-reg-event'),
  require('../../nodes/oma-publish-settings'),
  require('../../nodes/oma-settings-watch'),
  require('../../nodes/oma-settings-server'),
  require('../../nodes/oma-sip-trace'),
  require('../../nodes/oma-deliver-deferred'),
  require('../../nodes/oma-inbox'),
  collectNode,
];
