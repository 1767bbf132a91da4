// Shared by the pack's edit dialogs (loaded once by each node's .html from
// resources/node-red-contrib-oma-sip/): validators that refuse what would
// go wrong on the wire and say why, in the node's own message catalog.
(function () {
  'use strict';
  if (window.omaSipEditor) return;
  var HOST = /(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])/.source;
  // RFC 3261 user part: unreserved, escaped and user-unreserved characters.
  var USER = /[A-Za-z0-9\-_.!~*'()&=+$,;?\/%]+/.source;
  var HOSTPORT = HOST + /(?::\d{1,5})?/.source;
  var SIP_URI = 'sips?:' + USER + '@' + HOSTPORT;
  var list = function (item) { return new RegExp('^(?:' + item + '(?:[\\s,]+' + item + ')*)?\\s*$'); };
  var PATTERNS = {
    host: new RegExp('^' + HOST + '$'),
    hostPortList: list(HOSTPORT),
    // What the user node accepts: sip:alice@lab.test, alice@lab.test, or alice in the endpoint's domain.
    identity: new RegExp('^(?:sips?:)?' + USER + '(?:@' + HOSTPORT + ')?$'),
    sipUri: new RegExp('^sips?:(?:' + USER + '@)?' + HOSTPORT + /(?:;\S*)?$/.source),
    sipUriList: list(SIP_URI),
    // RFC 6665 7.2: an event package name is a token.
    eventPackage: /^[A-Za-z0-9!%*_+`'~.-]+$/
  };
  var text = function (v) { return String(v === undefined || v === null ? '' : v).trim(); };
  // A property the flow does not have at all (an older or hand-written flow) takes the runtime's
  // default: only a value that is there can be wrong.
  var absent = function (v) { return v === undefined || v === null; };

  window.omaSipEditor = {
    /** RFC 3261 Expires is at most 2^32-1 seconds. */
    MAX_EXPIRES: 4294967295,
    CPM_MODES: ['session', 'msg', 'largemsg', 'deferred'],
    /**
     * Shows the default in each text field and select whose property the node lacks (a flow
     * written before the property existed, or by hand), so its dialog opens valid.
     */
    fillAbsent: function (node) {
      var prefix = node._def.category === 'config' ? '#node-config-input-' : '#node-input-';
      Object.keys(node._def.defaults).forEach(function (k) {
        var field = $(prefix + k);
        if (node[k] === undefined && field.is('input[type=text], select')) field.val(node._def.defaults[k].value);
      });
    },
    /** Validators for node type `type`; each takes (value, opt) and returns true or the reason. */
    validators: function (type) {
      var why = function (key) { return RED._('node-red-contrib-oma-sip/' + type + ':' + type + '.validation.' + key); };
      var whole = function (lo, hi, key, blank) {
        return function (v, opt) {
          var s = text(v);
          if (absent(v) || (blank && s === '')) return true;
          return (/^\d+$/.test(s) && RED.validators.number()(s) && Number(s) >= lo && Number(s) <= hi) || why(key);
        };
      };
      return {
        why: why,
        /** A whole number from lo to hi (blank allowed where the runtime has a default). */
        whole: whole,
        /** A whole number from lo to hi, and not below the node's field `minField`. */
        wholeFrom: function (minField, lo, hi, key) {
          var inRange = whole(lo, hi, key);
          return function (v, opt) {
            var r = inRange(v, opt);
            if (r !== true || absent(v) || absent(this[minField])) return r;
            return Number(text(v)) >= Number(this[minField]) || why('maxBelowMin');
          };
        },
        /** Text of one of PATTERNS' shapes (blank allowed where the field is optional). */
        matching: function (pattern, key, blank) {
          var test = RED.validators.regex(PATTERNS[pattern]);
          return function (v, opt) {
            var s = text(v);
            return absent(v) || (blank && s === '') || test(s) || why(key);
          };
        }
      };
    }
  };
})();
