// Flows for node and integration tests: a lab core (or an external core), a
// client endpoint with register nodes, and a server endpoint with the
// third-party register node, wired to helper nodes that collect output.

export interface FlowUser {
  id: string;
  identity: string;
  password: string;
  enabler: 'poc' | 'im' | 'cpm';
  registerOnStart?: boolean;
  expires?: number;
  displayName?: string;
}

export interface LabFlowOptions {
  transport?: 'udp' | 'tcp';
  /** Port of the SIP core (the lab core listens there when withLabCore). */
  corePort: number;
  serverPort: number;
  withLabCore: boolean;
  users: FlowUser[];
  /** Lab core users, `user:password` lines. */
  coreUsers?: string;
  domain?: string;
  t1?: number;
  minExpires?: number;
}

export interface BuiltFlow {
  flow: Record<string, unknown>[];
  credentials: Record<string, Record<string, string>>;
}

export function labFlow(o: LabFlowOptions): BuiltFlow {
  const transport = o.transport ?? 'udp';
  const domain = o.domain ?? 'lab.test';
  const t1 = o.t1 ?? 500;
  const flow: Record<string, unknown>[] = [
    { id: 'ep-client', type: 'oma-sip-endpoint', transport, address: '127.0.0.1', port: 0, coreHost: '127.0.0.1', corePort: o.corePort, domain, t1 },
    { id: 'ep-server', type: 'oma-sip-endpoint', transport, address: '127.0.0.1', port: o.serverPort, coreHost: '127.0.0.1', corePort: o.corePort, domain, t1 },
    { id: 'tpr', type: 'oma-third-party-register', endpoint: 'ep-server', wires: [['tpr-out']] },
    { id: 'tpr-out', type: 'collect' },
  ];
  const credentials: Record<string, Record<string, string>> = {};
  if (o.withLabCore) {
    flow.push(
      { id: 'ep-core', type: 'oma-sip-endpoint', transport, address: '127.0.0.1', port: o.corePort, coreHost: '', domain, t1 },
      {
        id: 'core',
        type: 'oma-lab-core',
        endpoint: 'ep-core',
        appServerHost: '127.0.0.1',
        appServerPort: o.serverPort,
        appServerTransport: transport,
        minExpires: o.minExpires ?? 60,
        wires: [['core-out']],
      },
      { id: 'core-out', type: 'collect' },
    );
    credentials.core = { users: o.coreUsers ?? 'alice:alice-pw\nbob:bob-pw\ncarol:carol-pw' };
  }
  for (const u of o.users) {
    flow.push(
      { id: `user-${u.id}`, type: 'oma-sip-user', identity: u.identity, enabler: u.enabler, displayName: u.displayName ?? '' },
      {
        id: `reg-${u.id}`,
        type: 'oma-register',
        endpoint: 'ep-client',
        user: `user-${u.id}`,
        expires: u.expires ?? 3600,
        registerOnStart: u.registerOnStart ?? true,
        deregisterOnClose: true,
        deregisterMode: 'all',
        wires: [[`out-${u.id}`]],
      },
      { id: `out-${u.id}`, type: 'collect' },
    );
    credentials[`user-${u.id}`] = { password: u.password };
  }
  return { flow, credentials };
}
