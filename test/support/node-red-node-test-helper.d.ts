// Minimal typings of node-red-node-test-helper for our tests.
declare module 'node-red-node-test-helper' {
  interface TestNode {
    id: string;
    on(event: 'input', cb: (msg: any) => void): void;
    on(event: string, cb: (...args: any[]) => void): void;
    receive(msg: any): void;
    status?: any;
    [key: string]: any;
  }
  interface Helper {
    init(nodeRedPath: string, userSettings?: Record<string, unknown>): void;
    load(nodes: unknown, flow: unknown[], credentials: Record<string, unknown>, cb?: () => void): Promise<void>;
    load(nodes: unknown, flow: unknown[], cb?: () => void): Promise<void>;
    unload(): Promise<void>;
    getNode(id: string): TestNode;
    startServer(done?: () => void): Promise<void>;
    stopServer(done?: () => void): Promise<void>;
    settings(s: Record<string, unknown>): void;
    log(): { args: any[][]; restore(): void };
    clearFlows(): Promise<void>;
    /** Deploys `flow` as the editor would: `nodes` restarts only the changed nodes. */
    setFlows(flow: unknown[], type: 'full' | 'flows' | 'nodes', credentials?: Record<string, unknown>): Promise<void>;
    /** supertest against the admin app the nodes registered their routes on. */
    request(): any;
  }
  const helper: Helper;
  export = helper;
}
