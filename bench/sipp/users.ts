// Users for the SIPp registration benchmark (bench/sipp/register.xml).
//
// The same list feeds two places: the core's subscriber table (startKamailio
// { users }) and SIPp's injection file, one line per registration.
//
// CLI: node dist/bench/sipp/users.js <count> <out.csv> [domain]

import fs from 'node:fs';

export interface SippUser {
  user: string;
  password: string;
}

/** `count` distinct users: u000001 / u000001-pw, ... */
export function benchUsers(count: number, prefix = 'u'): SippUser[] {
  if (!Number.isInteger(count) || count < 1) throw new Error(`user count must be a positive integer, got ${count}`);
  const width = Math.max(6, String(count).length);
  return Array.from({ length: count }, (_, i) => {
    const user = `${prefix}${String(i + 1).padStart(width, '0')}`;
    return { user, password: `${user}-pw` };
  });
}

// A field may not contain SIPp's field separator, and the [authentication]
// keyword built from it may not contain spaces or brackets.
function checkField(what: string, value: string): void {
  if (value === '' || /[;\s\[\]]/.test(value)) throw new Error(`${what} not usable in a SIPp injection file: ${JSON.stringify(value)}`);
}

/**
 * The injection file: field0 user, field1 password, field2 domain, field3 the
 * ready-made [authentication] keyword. SIPp 3.6.1 (Debian's sip-tester) does
 * not expand [fieldN] inside [authentication ...], so the keyword is written
 * per line here and the scenario inserts it with [field3].
 */
export function sippCsv(users: SippUser[], domain: string): string {
  checkField('domain', domain);
  const lines = users.map((u) => {
    checkField('user', u.user);
    checkField('password', u.password);
    return [u.user, u.password, domain, `[authentication username=${u.user} password=${u.password}]`].join(';');
  });
  // SEQUENTIAL: call n uses line n, so each registration is a distinct user.
  return ['SEQUENTIAL', ...lines, ''].join('\n');
}

export function writeSippCsv(file: string, users: SippUser[], domain: string): void {
  fs.writeFileSync(file, sippCsv(users, domain));
}

function main(argv: string[]): void {
  const [countArg, out, domain = 'lab.test'] = argv;
  const count = Number(countArg);
  if (!out || !Number.isInteger(count) || count < 1) {
    console.error('usage: node dist/bench/sipp/users.js <count> <out.csv> [domain]');
    process.exitCode = 2;
    return;
  }
  writeSippCsv(out, benchUsers(count), domain);
  console.log(`wrote ${count} users for ${domain} to ${out}`);
}

if (require.main === module) main(process.argv.slice(2));
