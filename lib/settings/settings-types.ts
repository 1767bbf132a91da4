// The in-memory shape of a `poc-settings` document (RFC 4354), with the OMA IM
// service settings (seed 003 5.2.4 a-f) and whatever other namespaces a client
// put in an entity (MCPTT, vendors), kept as raw XML so it passes through.
// Every setting is optional: a publication carries only what a client knows.

export const POC_SETTINGS_NAMESPACE = 'urn:oma:params:xml:ns:poc:poc-settings';
export const IM_SETTINGS_NAMESPACE = 'urn:oma:xml:im:service-settings';
export const MCPTT_SETTINGS_NAMESPACE = 'urn:3gpp:mcsSettings:1.0';
export const POC_SETTINGS_CONTENT_TYPE = 'application/poc-settings+xml';
export const POC_SETTINGS_EVENT = 'poc-settings';

export type AnswerMode = 'automatic' | 'manual';

/** RFC 4354 settings of one entity. */
export interface PocSettings {
  incomingSessionBarring?: boolean;
  answerMode?: AnswerMode;
  incomingPersonalAlertBarring?: boolean;
  simultaneousSessions?: boolean;
}

/** OMA IM service settings (seed 003 5.2.4 a-f). */
export interface ImSettings {
  /** a) incoming IM session barring */
  incomingSessionBarring?: boolean;
  /** b) incoming pager mode and large mode IM barring */
  incomingPagerLargeModeBarring?: boolean;
  /** c) IM invisibility */
  invisibility?: boolean;
  /** d) pager / large mode offline delivery activation: whether deferred messages are pushed */
  offlineDelivery?: boolean;
  /** e) conversation storing for session mode */
  historySessionMode?: boolean;
  /** f) conversation storing for pager and large mode */
  historyPagerLargeMode?: boolean;
}

/** One `entity` element: the settings of one client (or of the user). */
export interface SettingsEntity {
  /** The required `id` attribute: the user's address or an opaque client id. */
  id: string;
  poc?: PocSettings;
  im?: ImSettings;
  /**
   * Child elements of the entity in namespaces this pack does not model
   * (MCPTT, vendors, unqualified), each as self-contained XML text with its
   * namespace declarations, in document order. Passed on untouched.
   */
  extensions: string[];
}

export interface SettingsDocument {
  entities: SettingsEntity[];
}

export type SettingsParse = { ok: true; document: SettingsDocument } | { ok: false; error: string };
