// Keys that would break a store that turned keys into paths or lines naively.
export const AWKWARD_KEYS = [
  '../../escape',
  '/etc/passwd',
  'sip:alice@lab.test;x=1/../..',
  '.',
  '..',
  '',
  'Zoë 😀 ключ',
  'tab\tnew\nline\u2028"quote"\\',
  'k'.repeat(600),
  'k'.repeat(601),
];
