// The Node-RED test helper around a describe block: one server, flows unloaded after each test.
import helper from 'node-red-node-test-helper';
import { resolveNodeRed } from './node-red-under-test';

let initialised = false;

export function useNodeRedHelper(): typeof helper {
  if (!initialised) {
    helper.init(resolveNodeRed('node-red'));
    initialised = true;
  }
  before(async () => {
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  afterEach(async () => {
    await helper.unload();
  });
  return helper;
}
