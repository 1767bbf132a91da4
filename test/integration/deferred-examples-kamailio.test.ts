// Talks to a real SIP core: the deferred-message examples run unchanged
// against Kamailio (test/support/kamailio-examples.ts). The delivery INVITE
// goes from the server through Kamailio to the user's registered contact, the
// inbox's fetch (SUBSCRIBE to the deferred-messages package) through Kamailio
// to the server. Every example in the folder runs, whoever added it.
import { examplesAgainstKamailio } from '../support/kamailio-examples';

describe('integration: the deferred-message examples against a real Kamailio', function () {
  this.timeout(60000);
  examplesAgainstKamailio('5 deferred');
});
