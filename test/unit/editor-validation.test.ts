// The edit dialogs refuse what would go wrong on the wire, and say why: each
// node's editor script, after the shared resources/oma-sip-editor.js, is run
// with a small stand-in for the editor's RED (its validators as Node-RED
// defines them, its messages from our English catalog).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { projectRoot } from '../support/project-root';

type Validate = (this: Record<string, unknown>, v: unknown, opt: object) => true | string | boolean;
type Defaults = Record<string, { value: unknown; validate?: Validate }>;

const nodesDir = path.join(projectRoot(), 'nodes');

function definition(type: string): Defaults {
  const html = fs.readFileSync(path.join(nodesDir, `${type}.html`), 'utf8');
  const script = /<script type="text\/javascript">([\s\S]*?)<\/script>/.exec(html)![1]!;
  assert.match(html, /<script type="text\/javascript" src="resources\/node-red-contrib-oma-sip\/oma-sip-editor\.js"><\/script>/, `${type} loads the shared editor script`);
  let defaults: Defaults | undefined;
  const RED = {
    nodes: { registerType: (_t: string, def: { defaults: Defaults }) => (defaults = def.defaults), node: () => undefined },
    validators: {
      number: (blank?: boolean) => (v: unknown) => (blank === true && (v === '' || v === undefined)) || (v !== '' && !isNaN(Number(v))),
      regex: (re: RegExp) => (v: unknown) => re.test(String(v)),
    },
    _: (key: string) => {
      const [ns, k] = key.split(':') as [string, string];
      const file = path.join(nodesDir, 'locales', 'en-US', `${ns.split('/')[1]}.json`);
      const v = k.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown>)?.[p], JSON.parse(fs.readFileSync(file, 'utf8')));
      return typeof v === 'string' ? v : key;
    },
  };
  const context: Record<string, unknown> = { RED, $: () => undefined };
  context.window = context;
  vm.runInNewContext(fs.readFileSync(path.join(projectRoot(), 'resources', 'oma-sip-editor.js'), 'utf8'), context);
  vm.runInNewContext(script, context);
  return defaults!;
}

/** true when the value passes, else the reason the dialog shows. */
function check(type: string, field: string, value: unknown, node: Record<string, unknown> = {}): true | string {
  const d = definition(type)[field]!;
  assert.ok(d.validate, `${type}.${field} has a validator`);
  assert.equal(d.validate.length, 2, 'a two-argument validator, so Node-RED shows its reason');
  const r = d.validate.call({ ...node, [field]: value }, value, {});
  return r === true ? true : String(r);
}

describe('editor validation: the dialogs refuse bad values with a reason', () => {
  it('a user identity must be a SIP URI (or a user in the endpoint’s domain)', () => {
    for (const bad of ['alice at lab dot test', 'sip:', 'sip:alice@', '@lab.test', 'sip:alice@lab test']) {
      assert.match(String(check('oma-sip-user', 'identity', bad)), /SIP URI/, bad);
    }
    for (const good of ['sip:alice@lab.test', 'sips:alice@lab.test:5061', 'alice@lab.test', 'alice', 'sip:+4912345@[::1]']) {
      assert.equal(check('oma-sip-user', 'identity', good), true, good);
    }
  });

  it('ports are 0 to 65535 on the endpoint, 1 to 65535 for the core', () => {
    assert.match(String(check('oma-sip-endpoint', 'port', '99999')), /65535/);
    assert.match(String(check('oma-sip-endpoint', 'port', '-1')), /65535/);
    assert.equal(check('oma-sip-endpoint', 'port', '0'), true);
    assert.equal(check('oma-sip-endpoint', 'port', 5060), true);
    assert.match(String(check('oma-sip-endpoint', 'corePort', '0')), /65535/);
    assert.equal(check('oma-sip-endpoint', 'corePort', ''), true, 'empty: 5060');
    assert.match(String(check('oma-lab-core', 'appServerPort', '70000')), /65535/);
  });

  it('the core address is a host, without scheme or port', () => {
    for (const bad of ['sip:127.0.0.1', '127.0.0.1:5060', 'core host']) assert.notEqual(check('oma-sip-endpoint', 'coreHost', bad), true, bad);
    for (const good of ['127.0.0.1', 'pcscf.lab.test', '[::1]', '']) assert.equal(check('oma-sip-endpoint', 'coreHost', good), true, good);
  });

  it('Expires and T1 are positive whole numbers', () => {
    for (const type of ['oma-register', 'oma-reg-event', 'oma-settings-watch']) {
      for (const bad of ['-1', '0', '1.5', 'soon']) assert.match(String(check(type, 'expires', bad)), /Expires/, `${type} ${bad}`);
      assert.equal(check(type, 'expires', '3600'), true);
    }
    assert.equal(check('oma-publish-settings', 'expires', ''), true, 'empty: the registration’s');
    assert.notEqual(check('oma-publish-settings', 'expires', '0'), true);
    assert.match(String(check('oma-sip-endpoint', 't1', '-5')), /T1/);
    assert.notEqual(check('oma-sip-endpoint', 't1', '0'), true);
    assert.equal(check('oma-sip-endpoint', 't1', '500'), true);
  });

  it('a maximum below the minimum is refused', () => {
    assert.notEqual(check('oma-lab-core', 'maxExpires', '30', { minExpires: 60 }), true);
    assert.equal(check('oma-lab-core', 'maxExpires', '3600', { minExpires: 60 }), true);
    assert.notEqual(check('oma-settings-server', 'maxExpires', '30', { minExpires: 60 }), true);
  });

  it('URIs and address lists of the server nodes', () => {
    assert.notEqual(check('oma-lab-core', 'settingsServer', 'http://example.test'), true);
    assert.equal(check('oma-lab-core', 'settingsServer', 'sip:127.0.0.1:5070'), true);
    assert.notEqual(check('oma-reg-event', 'from', 'oma-server'), true);
    assert.equal(check('oma-reg-event', 'from', 'sip:oma-server@lab.test'), true);
    assert.equal(check('oma-third-party-register', 'trustedCores', '10.0.0.1 core.lab.test:5060'), true);
    assert.notEqual(check('oma-third-party-register', 'trustedCores', 'sip:10.0.0.1'), true);
    assert.notEqual(check('oma-settings-server', 'watchAll', 'poc-server'), true);
  });

  it('a property missing from an imported flow takes the runtime default, an empty one is refused', () => {
    assert.equal(check('oma-third-party-register', 'maxUsers', undefined), true);
    assert.equal(check('oma-sip-user', 'identity', undefined), true, 'required: Node-RED itself refuses it');
    assert.notEqual(check('oma-third-party-register', 'maxUsers', ''), true);
  });

  it('a CPM user needs at least one CPM mode', () => {
    assert.notEqual(check('oma-sip-user', 'cpmModes', '', { enabler: 'cpm' }), true);
    assert.equal(check('oma-sip-user', 'cpmModes', 'msg,deferred', { enabler: 'cpm' }), true);
    assert.equal(check('oma-sip-user', 'cpmModes', '', { enabler: 'poc' }), true, 'not asked of PoC users');
  });

  it('the deferred-message nodes take an event package name and a size in bytes', () => {
    for (const type of ['oma-deliver-deferred', 'oma-inbox']) {
      assert.equal(check(type, 'infoEvent', 'deferred-messages'), true);
      assert.match(String(check(type, 'infoEvent', 'deferred messages')), /event package name/);
      assert.notEqual(check(type, 'infoEvent', ''), true);
    }
    assert.equal(check('oma-deliver-deferred', 'maxMessageBytes', '1048576'), true);
    assert.match(String(check('oma-deliver-deferred', 'maxMessageBytes', '0')), /whole number of bytes/);
    assert.notEqual(check('oma-deliver-deferred', 'serverIdentity', 'im-server'), true);
    assert.equal(check('oma-deliver-deferred', 'retryInterval', '300'), true);
    assert.equal(check('oma-deliver-deferred', 'retryInterval', '0'), true, '0: retry on the next refresh');
    assert.match(String(check('oma-deliver-deferred', 'retryInterval', '-5')), /whole number of seconds/);
    assert.notEqual(check('oma-deliver-deferred', 'retryInterval', '86401'), true);
    assert.equal(check('oma-deliver-deferred', 'serverIdentity', ''), true, 'empty: the default identity');
  });

  it('passes every node of every example flow as it ships', () => {
    const dir = path.join(projectRoot(), 'examples');
    const files = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.json'));
    assert.ok(files.length > 0);
    for (const file of files) {
      for (const n of JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>[]) {
        const type = String(n.type);
        if (!type.startsWith('oma-') || !fs.existsSync(path.join(nodesDir, `${type}.html`))) continue;
        for (const [field, d] of Object.entries(definition(type))) {
          if (!d.validate) continue;
          assert.equal(d.validate.call(n, n[field], {}), true, `${file}: ${type} ${String(n.name || n.id)} ${field}=${JSON.stringify(n[field])}`);
        }
      }
    }
  });
});
