// What the trace node outputs, and which messages it lets through.
import { headersOfWire } from '../../lib/sip/summary';
import type { TraceEntry } from '../../lib/trace/trace-entry';
import { compact, text, type NodeDef } from './red';

export interface TraceFilter {
  endpointId?: string;
  /** Upper-case methods; empty means all. A response matches by the method of its CSeq. */
  methods: Set<string>;
  direction: 'both' | 'in' | 'out';
}

export function traceFilter(def: NodeDef): TraceFilter {
  const methods = new Set(
    text(def, 'methods')
      .split(/[\s,]+/)
      .map((m) => m.toUpperCase())
      .filter(Boolean),
  );
  const d = text(def, 'direction', 'both');
  return {
    endpointId: text(def, 'endpoint') || undefined,
    methods,
    direction: d === 'in' || d === 'out' ? d : 'both',
  };
}

export function matches(f: TraceFilter, e: TraceEntry): boolean {
  if (f.endpointId && e.endpointId !== f.endpointId) return false;
  if (f.direction !== 'both' && e.direction !== f.direction) return false;
  return f.methods.size === 0 || f.methods.has(e.method);
}

export function tracePayload(e: TraceEntry) {
  return compact({
    direction: e.direction,
    endpoint: e.endpoint,
    local: e.local,
    transport: e.transport,
    peer: e.peer,
    time: new Date(e.time).toISOString(),
    summary: e.summary,
    method: e.method,
    status: e.status,
    reason: e.reason,
    cseq: e.cseq,
    callId: e.callId,
    from: e.fromUser,
    to: e.toUser,
    headers: headersOfWire(e.raw),
    raw: e.raw,
    truncated: e.truncated,
  });
}
