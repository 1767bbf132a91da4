// The Node-RED test helper around a describe block: one server, flows unloaded after each test.
import helper from 'node-red-node-test-helper';

let initialised = false;

export function useNodeRedHelper(): typeof helper {
  if (!initialised) {
    helper.init(require.resolve('node-red'));
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
