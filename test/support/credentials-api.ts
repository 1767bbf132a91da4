// The editor's `GET /credentials/:type/:id` on the test helper's admin app.
// The helper mounts no editor API; this wires Node-RED's own handler and
// runtime API to the helper's runtime, so a test reads credentials exactly as
// the editor (or anyone holding an admin token) would.
import helper from 'node-red-node-test-helper';
import { requireNodeRed } from './node-red-under-test';

interface HelperInternals {
  _httpAdmin?: { get(path: string, handler: (req: unknown, res: unknown) => void): void };
  _redNodes: unknown;
  _log: { audit(): void };
}

export function mountCredentialsApi(): void {
  const h = helper as unknown as HelperInternals;
  if (!h._httpAdmin) throw new Error('load a flow first: the helper creates its admin app in load()');
  const flowsApi = requireNodeRed<{ init(o: unknown): void }>('@node-red/runtime/lib/api/flows');
  flowsApi.init({ nodes: h._redNodes, log: { audit: () => undefined } });
  const handler = requireNodeRed<{ init(o: unknown): void; get(req: unknown, res: unknown): void }>('@node-red/editor-api/lib/editor/credentials');
  handler.init({ flows: flowsApi });
  h._httpAdmin.get('/credentials/:type/:id', handler.get);
}
