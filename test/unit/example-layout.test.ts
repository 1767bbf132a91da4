// The examples as the editor draws them: a node's status text sits under the
// node and runs to the right; when it reaches the next node on the same row,
// it is cut off under that node (issue 9: the lab core's "on 127.0.0.1:5060,
// 3 users registered" under its debug node). The widths are estimates of the
// editor's drawing (14 px label font, status in a smaller one), on the safe side.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectRoot } from '../support/project-root';

interface FlowNode {
  id: string;
  type: string;
  name?: string;
  x?: number;
  y?: number;
  z?: string;
}

const STATUS_PX_PER_CHAR = 6.5;
const STATUS_INDENT = 20; // the status dot and its gap
const LABEL_PX_PER_CHAR = 6;
const ROW = 30; // nodes this close in y share a row with the status text

/** Values as long as a lab can make them: the widest IPv4 address and port, three-digit counts. */
const SAMPLES: Record<string, string> = { hostPort: '255.255.255.255:65535', expires: '3600' };
const SAMPLE_NUMBER = '100';

/** Status texts that carry an error are cut by the node itself; only the working ones are laid out for. */
const ERROR_PLACEHOLDERS = /__(error|why)__/;

function fill(text: string): string {
  return text.replace(/__(\w+)__/g, (_, name: string) => SAMPLES[name] ?? SAMPLE_NUMBER);
}

/**
 * The longest working status a node type shows: its single texts, and the
 * composed ones (register appends ", N failed", ", N in progress" to its "N of M registered"; the settings
 * server and deferred delivery join their counts, here joined by ", " to be safe).
 */
function longestStatus(type: string): string {
  const file = path.join(projectRoot(), 'nodes', 'locales', 'en-US', `${type}.json`);
  if (!fs.existsSync(file)) return '';
  const messages = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, { status?: Record<string, string> }>;
  const texts = Object.entries(messages[type]?.status ?? {})
    .filter(([, v]) => !ERROR_PLACEHOLDERS.test(v))
    .map(([k, v]) => ({ key: k, text: fill(v) }));
  const suffixes = texts.filter((t) => t.text.startsWith(', ') && !t.key.endsWith('_one')).map((t) => t.text).join('');
  const whole = texts.filter((t) => !t.text.startsWith(', '));
  const composed = whole.filter((t) => t.key === 'many').map((t) => t.text + suffixes);
  const counts = whole.filter((t) => t.key.endsWith('_other')).map((t) => t.text).join(', ');
  return [...whole.map((t) => t.text), ...composed, counts].reduce((a, b) => (b.length > a.length ? b : a));
}

/** The editor's node width: label plus icon and ports, at least 100, in steps of 20. */
function width(n: FlowNode): number {
  const label = n.name || n.type.replace(/^oma-/, '').replace(/-/g, ' ');
  return Math.max(100, Math.ceil((label.length * LABEL_PX_PER_CHAR + 50) / 20) * 20);
}

function examples(): string[] {
  const root = path.join(projectRoot(), 'examples');
  return fs
    .readdirSync(root)
    .flatMap((dir) => (fs.statSync(path.join(root, dir)).isDirectory() ? fs.readdirSync(path.join(root, dir)).map((f) => path.join(root, dir, f)) : []))
    .filter((f) => f.endsWith('.json'))
    .sort();
}

describe('examples: layout', () => {
  it('finds the examples and knows the lab core\'s longest status', () => {
    assert.ok(examples().length >= 10);
    assert.equal(longestStatus('oma-lab-core'), 'on 255.255.255.255:65535, 100 users registered');
  });

  for (const file of examples()) {
    it(`${path.basename(path.dirname(file))}/${path.basename(file)}: no status text runs under the next node on its row`, () => {
      const nodes = (JSON.parse(fs.readFileSync(file, 'utf8')) as FlowNode[]).filter((n) => typeof n.x === 'number' && typeof n.y === 'number');
      const problems: string[] = [];
      for (const n of nodes) {
        const status = longestStatus(n.type);
        if (!status) continue;
        const left = n.x! - width(n) / 2;
        const statusEnd = left + STATUS_INDENT + status.length * STATUS_PX_PER_CHAR;
        for (const other of nodes) {
          if (other === n || other.z !== n.z || other.x! <= n.x! || Math.abs(other.y! - n.y!) > ROW) continue;
          const otherLeft = other.x! - width(other) / 2;
          if (statusEnd >= otherLeft) {
            problems.push(`"${n.name || n.type}" status "${status}" ends at x=${Math.round(statusEnd)}, under "${other.name || other.type}" (starts at x=${otherLeft})`);
          }
        }
      }
      assert.deepEqual(problems, []);
    });
  }
});
