// The lab core's user list as typed in its credentials.

/** `alice:alice-pw` per line (or separated by commas); blank lines and `#` comments are skipped. */
export function parseUsers(textValue: string): { users: Map<string, string>; errors: string[] } {
  const users = new Map<string, string>();
  const errors: string[] = [];
  for (const raw of textValue.split(/[\n,]/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const c = line.indexOf(':');
    if (c <= 0) {
      // Never echo the line: it may hold a password typed without its user.
      errors.push(`entry ${users.size + errors.length + 1} is not user:password`);
      continue;
    }
    users.set(line.slice(0, c).trim(), line.slice(c + 1));
  }
  return { users, errors };
}
