// Which Node-RED the tests run against: the project's own (devDependencies)
// by default, or the one installed in the folder OMA_NODE_RED_DIR names (CI's
// second run, Node-RED 5 under Node 22). Every test resolves Node-RED and its
// @node-red modules through here, so one process never mixes two versions.
import * as path from 'node:path';

export function resolveNodeRed(spec: string): string {
  const dir = process.env.OMA_NODE_RED_DIR;
  return dir ? require.resolve(spec, { paths: [path.resolve(dir)] }) : require.resolve(spec);
}

export function requireNodeRed<T = unknown>(spec: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(resolveNodeRed(spec)) as T;
}
