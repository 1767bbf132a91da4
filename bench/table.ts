// Benchmark results as a plain table on stdout.
export interface Row {
  what: string;
  value: number | string;
  unit: string;
  note?: string;
}

export function median(xs: number[]): number {
  return percentile(xs, 50);
}

export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}

export function printTable(title: string, rows: Row[]): void {
  const cells = rows.map((r) => [r.what, typeof r.value === 'number' ? r.value.toLocaleString('en-US') : r.value, r.unit, r.note ?? '']);
  const head = ['measure', 'value', 'unit', 'notes'];
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => '| ' + c.map((x, i) => (i === 1 ? x.padStart(width[i]!) : x.padEnd(width[i]!))).join(' | ') + ' |';
  console.log(`\n${title}\n`);
  console.log(line(head));
  console.log('|' + width.map((w, i) => (i === 1 ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|');
  for (const c of cells) console.log(line(c));
}

/** Lines counted by their text with user names (u0001...), long hex ids and numbers taken out, most frequent first. */
export function kinds(lines: string[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const l of lines) {
    const k = l.replace(/sip:u\d+@\S+|\bu\d{4}\b/g, '<user>').replace(/\b[0-9a-f]{12,}\b/g, '<id>').replace(/\d+/g, 'N');
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]);
}
