// What each OMA enabler puts in REGISTER: feature tags in Contact (RFC 3840),
// option tags, and the release in User-Agent.
//  PoC: seed 000 6.1.1 (+g.poc.talkburst).
//  IM:  seed 001 5.2.1 (+g.oma.sip-im, .system-message, .large-message, Require: pref).
//  CPM: seed 004 7.1 (ICSI feature tag, +sip.instance, Supported/Require: gruu).
import type { Params } from '../sip/message';

export type Enabler = 'poc' | 'im' | 'cpm';

export const ENABLERS: readonly Enabler[] = ['poc', 'im', 'cpm'];

/** CPM communication modes, each an ICSI of 3GPP TS 24.229 style. */
export type CpmMode = 'session' | 'msg' | 'largemsg' | 'deferred';
export const CPM_MODES: readonly CpmMode[] = ['session', 'msg', 'largemsg', 'deferred'];

const CPM_ICSI_PREFIX = 'urn%3Aurn-7%3A3gpp-service.ims.icsi.oma.cpm.';

export const DEFAULT_RELEASE: Record<Enabler, string> = { poc: 'OMA2.0', im: 'OMA1.0', cpm: 'OMA1.0' };

const UA_PRODUCT: Record<Enabler, string> = { poc: 'PoC-client', im: 'IM-client', cpm: 'CPM-client' };

export interface EnablerOptions {
  enabler: Enabler;
  release?: string;
  cpmModes?: readonly CpmMode[];
  /** `<urn:uuid:...>` of this client, required for CPM (RFC 5626 4.1). */
  instanceId?: string;
  /** Extra feature tags typed in the editor, e.g. `+g.oma.sip-im.deferred` or `video`. */
  extraFeatureTags?: Params;
}

export interface RegisterProfile {
  /** Service feature tags: present while registered for the service, absent in the "stay on the core" de-registration. */
  serviceTags: Params;
  /** Contact parameters kept in every REGISTER (instance id). */
  bindingTags: Params;
  require: string[];
  supported: string[];
  userAgent: string;
  /** Tags that make a core send third-party REGISTER to this enabler's server. */
  serverTriggerTag: string;
}

export function userAgentFor(enabler: Enabler, release?: string): string {
  return `${UA_PRODUCT[enabler]}/${release || DEFAULT_RELEASE[enabler]}`;
}

export function profileFor(o: EnablerOptions): RegisterProfile {
  const extra = o.extraFeatureTags ?? {};
  const base = { userAgent: userAgentFor(o.enabler, o.release), bindingTags: {} as Params };
  switch (o.enabler) {
    case 'poc':
      return {
        ...base,
        serviceTags: { '+g.poc.talkburst': null, ...extra },
        require: [],
        supported: [],
        serverTriggerTag: '+g.poc.talkburst',
      };
    case 'im':
      return {
        ...base,
        serviceTags: {
          '+g.oma.sip-im': null,
          '+g.oma.sip-im.system-message': null,
          '+g.oma.sip-im.large-message': null,
          ...extra,
        },
        require: ['pref'],
        supported: [],
        serverTriggerTag: '+g.oma.sip-im',
      };
    case 'cpm': {
      const modes = o.cpmModes?.length ? o.cpmModes : CPM_MODES;
      const icsi = modes.map((m) => CPM_ICSI_PREFIX + m).join(',');
      if (!o.instanceId) throw new Error('a CPM client needs an instance id (+sip.instance)');
      return {
        ...base,
        serviceTags: { '+g.3gpp.icsi-ref': `"${icsi}"`, ...extra },
        bindingTags: { '+sip.instance': `"${formatInstance(o.instanceId)}"` },
        require: ['gruu'],
        supported: ['gruu'],
        serverTriggerTag: '+g.3gpp.icsi-ref',
      };
    }
  }
}

/** Accepts `urn:uuid:...`, `<urn:uuid:...>` or a bare UUID and gives `<urn:uuid:...>`. */
export function formatInstance(id: string): string {
  let t = id.trim().replace(/^"|"$/g, '').replace(/^<|>$/g, '');
  if (/^[0-9a-f-]{36}$/i.test(t)) t = 'urn:uuid:' + t;
  return `<${t}>`;
}

/** Parses the editor's feature tag text: `+g.a;+g.b="x";video` or one per line. */
export function parseFeatureTags(text: string | undefined): Params {
  const out: Params = {};
  if (!text) return out;
  for (const part of text.split(/[;\n]/)) {
    const t = part.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    const name = (eq < 0 ? t : t.slice(0, eq)).trim().toLowerCase();
    if (!/^[+a-z0-9.\-_!%*~`']+$/.test(name)) throw new Error(`"${name}" is not a feature tag name`);
    out[name] = eq < 0 ? null : t.slice(eq + 1).trim();
  }
  return out;
}
