// Talks to a real SIP core: the settings examples run unchanged against
// Kamailio (test/support/kamailio-examples.ts). Kamailio challenges the
// clients' SUBSCRIBE and PUBLISH, asserts the user, and keeps itself in the
// path of the NOTIFYs (test/kamailio/kamailio.cfg).
import { examplesAgainstKamailio } from '../support/kamailio-examples';

describe('integration: the settings examples against a real Kamailio', function () {
  this.timeout(60000);
  examplesAgainstKamailio('3 settings');
});
