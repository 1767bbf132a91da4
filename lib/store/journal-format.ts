// The on-disk format of the journal store: files of records, one a line.
//
//   <crc>' '<body>'\n'      crc: 8 lower-case hex digits, CRC-32 of the body's UTF-8 bytes
//
// Bodies: 'h1 journal 3' or 'h1 snapshot 3' (header: format version, file kind,
// generation), 'p' + key as JSON + TAB + value as JSON (put), 'd' + key as
// JSON (delete), 'e' + count (the last line of a snapshot: how many puts it
// holds). JSON.stringify never writes a raw newline or tab, so both are safe
// separators and a damaged line cannot swallow its neighbours' framing.
//
// A generation is a snapshot (the whole map at some moment) and the journal
// of the changes after it: snapshot-N.json + journal-N.log. Generation 0 has
// no snapshot (it starts empty).
import { crc32 } from './crc32';

export const FORMAT_VERSION = 1;
export const TEMP_SUFFIX = '.tmp';

export type FileKind = 'journal' | 'snapshot';

export type Entry =
  | { kind: 'header'; version: number; file: FileKind; generation: number }
  | { kind: 'put'; key: string; valueJson: string }
  | { kind: 'delete'; key: string }
  | { kind: 'end'; count: number };

export function fileName(kind: FileKind, generation: number): string {
  return kind === 'journal' ? `journal-${generation}.log` : `snapshot-${generation}.json`;
}

const NAME = /^(journal|snapshot)-(0|[1-9][0-9]{0,14})\.(log|json)(\.tmp)?$/;

/** What a directory entry is to the store, or undefined for a file it does not own. */
export function parseFileName(name: string): { kind: FileKind; generation: number; temp: boolean } | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const kind = m[1] as FileKind;
  if ((kind === 'journal') !== (m[3] === 'log')) return undefined;
  return { kind, generation: Number(m[2]), temp: m[4] !== undefined };
}

export function headerBody(file: FileKind, generation: number): string {
  return `h${FORMAT_VERSION} ${file} ${generation}`;
}

export function putBody(key: string, valueJson: string): string {
  return `p${JSON.stringify(key)}\t${valueJson}`;
}

export function deleteBody(key: string): string {
  return `d${JSON.stringify(key)}`;
}

export function endBody(count: number): string {
  return `e${count}`;
}

/** One line, ready to append. */
export function encodeRecord(body: string): Buffer {
  const length = Buffer.byteLength(body, 'utf8');
  const line = Buffer.allocUnsafe(length + 10);
  line.write(body, 9, 'utf8');
  line.write(crc32(line.subarray(9, 9 + length)).toString(16).padStart(8, '0'), 0, 'latin1');
  line[8] = 0x20;
  line[9 + length] = 0x0a;
  return line;
}

export interface Frame {
  /** Byte offsets of the line, end included the newline (or end of data). */
  start: number;
  end: number;
  body?: string;
  /** Why the line is not a whole record. */
  error?: string;
}

const HEX8 = /^[0-9a-f]{8}$/;

/** The lines of a file, each checked against its checksum. */
export function* readFrames(data: Buffer): Generator<Frame> {
  let start = 0;
  while (start < data.length) {
    const newline = data.indexOf(0x0a, start);
    const end = newline === -1 ? data.length : newline + 1;
    yield checkFrame(data, start, end, newline);
    start = end;
  }
}

function checkFrame(data: Buffer, start: number, end: number, newline: number): Frame {
  if (newline === -1) return { start, end, error: 'no end of line (cut short)' };
  if (newline - start < 9 || data[start + 8] !== 0x20) return { start, end, error: 'not a record' };
  const crc = data.toString('latin1', start, start + 8);
  if (!HEX8.test(crc)) return { start, end, error: 'not a record' };
  if (parseInt(crc, 16) !== crc32(data.subarray(start + 9, newline))) return { start, end, error: 'checksum mismatch' };
  return { start, end, body: data.toString('utf8', start + 9, newline) };
}

/** Reads a checked body; throws when it is none of the known records. */
export function decodeBody(body: string): Entry {
  switch (body[0]) {
    case 'p': {
      const tab = body.indexOf('\t');
      if (tab < 0 || tab === body.length - 1) throw new Error('put without a value');
      return { kind: 'put', key: decodeKey(body.slice(1, tab)), valueJson: body.slice(tab + 1) };
    }
    case 'd':
      return { kind: 'delete', key: decodeKey(body.slice(1)) };
    case 'e': {
      const count = Number(body.slice(1));
      if (!Number.isSafeInteger(count) || count < 0) throw new Error('bad end mark');
      return { kind: 'end', count };
    }
    case 'h': {
      const m = /^h([0-9]+) (journal|snapshot) ([0-9]+)$/.exec(body);
      if (!m) throw new Error('bad header');
      return { kind: 'header', version: Number(m[1]), file: m[2] as FileKind, generation: Number(m[3]) };
    }
    default:
      throw new Error('unknown record type');
  }
}

function decodeKey(json: string): string {
  const key: unknown = JSON.parse(json);
  if (typeof key !== 'string') throw new Error('key is not a string');
  return key;
}

/** The header a file must start with, or why it does not. */
export function headerProblem(entry: Entry, file: FileKind, generation: number): string | undefined {
  if (entry.kind !== 'header') return 'no header';
  if (entry.version !== FORMAT_VERSION) return `format version ${entry.version}, expected ${FORMAT_VERSION}`;
  if (entry.file !== file || entry.generation !== generation) return `header of ${fileName(entry.file, entry.generation)}`;
  return undefined;
}
