// The settings client flow as a user wires it: per client of alice a register
// node whose output feeds a publish settings and a settings watch node, each
// with a collect node behind it, on one endpoint that uses `corePort` as core.

export interface SettingsFlowOptions {
  corePort: number;
  /** Entity ids, one client (and one user config node) each. */
  clients: string[];
  /** Extra properties of the publish settings nodes (editor settings...). */
  publish?: Record<string, unknown>;
  enabler?: 'poc' | 'im' | 'cpm';
  registerExpires?: number;
}

export function settingsFlow(o: SettingsFlowOptions) {
  const flow: Record<string, unknown>[] = [
    { id: 'ep', type: 'oma-sip-endpoint', transport: 'udp', address: '127.0.0.1', port: 0, coreHost: '127.0.0.1', corePort: o.corePort, domain: 'lab.test', t1: 500 },
  ];
  const credentials: Record<string, Record<string, string>> = {};
  for (const c of o.clients) {
    flow.push(
      { id: `user-${c}`, type: 'oma-sip-user', identity: 'alice', enabler: o.enabler ?? 'poc' },
      { id: `reg-${c}`, type: 'oma-register', endpoint: 'ep', user: `user-${c}`, expires: o.registerExpires ?? 1800, registerOnStart: true, deregisterOnClose: false, wires: [[`reg-out-${c}`, `pub-${c}`, `watch-${c}`]] },
      { id: `reg-out-${c}`, type: 'collect' },
      { id: `pub-${c}`, type: 'oma-publish-settings', endpoint: 'ep', user: `user-${c}`, entityId: c, pocIsb: 'false', pocAnswerMode: 'manual', removeOnClose: true, wires: [[`pub-out-${c}`]], ...o.publish },
      { id: `pub-out-${c}`, type: 'collect' },
      { id: `watch-${c}`, type: 'oma-settings-watch', endpoint: 'ep', user: `user-${c}`, entityId: c, expires: 3600, subscribeOnStart: false, wires: [[`watch-out-${c}`]] },
      { id: `watch-out-${c}`, type: 'collect' },
    );
    credentials[`user-${c}`] = { password: 'alice-pw' };
  }
  return { flow, credentials };
}
