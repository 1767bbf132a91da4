// One meaning for fill and shape on every node: green dot up, yellow ring
// working, red ring failed, grey ring idle or stopped.
import type { NodeStatus } from './red';

export const up = (text: string): NodeStatus => ({ fill: 'green', shape: 'dot', text });
export const working = (text: string): NodeStatus => ({ fill: 'yellow', shape: 'ring', text });
export const failed = (text: string): NodeStatus => ({ fill: 'red', shape: 'ring', text });
export const idle = (text: string): NodeStatus => ({ fill: 'grey', shape: 'ring', text });

/** Status texts are short: the editor draws them under the node. */
export function short(s: string, max = 60): string {
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}
