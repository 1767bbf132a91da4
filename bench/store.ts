// Store benchmarks: the settings server stores every accepted PUBLISH before
// it answers 200, so puts per second bound the PUBLISH rate.
//  1. puts per second of a ~600-byte stored publication, 10,000 puts with 1,
//     50 and 500 in flight, FileStore against JournalStore, each in a fresh
//     temporary directory;
//  2. load time and RSS for 10,000 entries, each load in a child process of
//     its own so that one measurement cannot inflate the other.
// Run: npm run build && node dist/bench/store.js   (PUTS=... for another count)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileStore } from '../lib/store/file-store';
import { JournalStore } from '../lib/store/journal-store';
import type { KeyValueStore } from '../lib/store/store';
import { percentile, printTable, type Row } from './table';

type Kind = 'file' | 'journal';
const NAMES: Record<Kind, string> = { file: 'FileStore', journal: 'JournalStore' };

function open(kind: Kind, dir: string): KeyValueStore<unknown> {
  return kind === 'file' ? new FileStore<unknown>(dir) : new JournalStore<unknown>(dir);
}

/** A stored publication as the settings server keeps it, about 600 bytes as JSON. */
export function settingsValue(i: number): unknown {
  const aor = `sip:user${i % 1000}@lab.test`;
  return {
    aor,
    etag: `e${i.toString(16).padStart(12, '0')}`,
    body:
      '<?xml version="1.0" encoding="UTF-8"?><poc-settings xmlns="urn:oma:xml:poc:poc-settings">' +
      `<entity id="do${i}"><isb-settings><incoming-session-barring active="false"/></isb-settings>` +
      '<am-settings><answer-mode>automatic</answer-mode></am-settings>' +
      '<ipab-settings><incoming-personal-alert-barring active="false"/></ipab-settings></entity></poc-settings>',
    document: { entities: [{ id: `do${i}`, poc: { isb: false, answerMode: 'automatic', ipab: false }, extensions: [] }] },
    expiresAt: 1_764_000_000_000 + i,
    publishedAt: 1_763_996_400_000 + i,
    updatedAt: 1_763_996_400_000 + i,
    by: aor,
    userAgent: 'PoC-client/OMA2.0',
  };
}

async function putRate(kind: Kind, dir: string, puts: number, inFlight: number): Promise<{ perSecond: number; p50: number; p99: number; flushes?: number }> {
  const store = open(kind, dir);
  await store.load();
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < puts) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      await store.put(`sip:user${i}@lab.test/entity-${i}`, settingsValue(i));
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await store.close();
  const flushes = store instanceof JournalStore ? store.stats.flushes : undefined;
  return { perSecond: Math.round(puts / seconds), p50: percentile(latencies, 50), p99: percentile(latencies, 99), flushes };
}

interface LoadResult {
  ms: number;
  entries: number;
  rssMB: number;
  heapMB: number;
}

/** In the child: load a directory and say how long it took and what it holds. */
async function loadHere(kind: Kind, dir: string): Promise<LoadResult> {
  const start = process.hrtime.bigint();
  const store = open(kind, dir);
  const map = await store.load();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const mem = process.memoryUsage();
  await store.close();
  return { ms, entries: map.size, rssMB: mem.rss / 1048576, heapMB: mem.heapUsed / 1048576 };
}

function loadInChild(kind: Kind, dir: string): LoadResult {
  const out = execFileSync(process.execPath, [__filename, '--load', kind, dir], { encoding: 'utf8' });
  return JSON.parse(out) as LoadResult;
}

/** Folds a journal directory into a snapshot (what compaction leaves), in place. */
async function compact(dir: string): Promise<void> {
  const store = new JournalStore<unknown>(dir, { compactAfter: 1 });
  await store.load();
  await store.put('compaction-trigger', 0);
  await store.delete('compaction-trigger');
  await store.close();
  if (store.stats.compactions < 1) throw new Error('no compaction happened');
}

export async function storeBench(puts: number): Promise<Row[]> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'oma-store-bench-'));
  const rows: Row[] = [];
  const bytes = JSON.stringify(settingsValue(1)).length;
  try {
    const loadDirs = new Map<Kind, string>();
    for (const inFlight of [1, 50, 500]) {
      for (const kind of ['file', 'journal'] as const) {
        const dir = path.join(root, `${kind}-${inFlight}`);
        const r = await putRate(kind, dir, puts, inFlight);
        const flushes = r.flushes === undefined ? '' : `, ${r.flushes.toLocaleString('en-US')} fdatasyncs`;
        rows.push({
          what: `${NAMES[kind]} puts, ${inFlight} in flight`,
          value: r.perSecond,
          unit: 'puts/s',
          note: `${puts.toLocaleString('en-US')} puts of ${bytes} B; latency p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms${flushes}`,
        });
        if (inFlight === 50) loadDirs.set(kind, dir);
        else fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    const baseline = loadInChild('journal', path.join(root, 'empty'));
    rows.push({ what: 'RSS of a child that loads an empty store', value: Math.round(baseline.rssMB), unit: 'MB', note: 'node + the store modules' });
    const loadRow = (what: string, kind: Kind) => {
      const r = loadInChild(kind, loadDirs.get(kind)!);
      rows.push({ what: `${what}, ${r.entries.toLocaleString('en-US')} entries`, value: Math.round(r.ms), unit: 'ms', note: `RSS ${Math.round(r.rssMB)} MB, heap ${Math.round(r.heapMB)} MB after load` });
    };
    loadRow('FileStore load', 'file');
    loadRow('JournalStore load (replay of the journal)', 'journal');
    await compact(loadDirs.get('journal')!);
    loadRow('JournalStore load (snapshot after compaction)', 'journal');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  return rows;
}

if (require.main === module) {
  (async () => {
    if (process.argv[2] === '--load') {
      process.stdout.write(JSON.stringify(await loadHere(process.argv[3] as Kind, process.argv[4]!)));
      return;
    }
    printTable(`Stores (${os.cpus().length} cores)`, await storeBench(Number(process.env.PUTS ?? 10_000)));
    process.exit(0);
  })().catch((e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
}
