// Reg event package (RFC 3680, GRUU extension RFC 5628): document model, reader,
// writer and the merged view a subscriber keeps.
export * from './reginfo-types';
export { isEmptyBody, readReginfo } from './reginfo-reader';
export type { ReadReginfoResult } from './reginfo-reader';
export { writeReginfo } from './reginfo-writer';
export { EXPIRY_TOLERANCE_MS, ReginfoView } from './reginfo-view';
export type {
  ApplyResult,
  ContactChange,
  ReginfoChange,
  ReginfoSnapshot,
  ReginfoViewOptions,
  RegistrationChange,
  RegistrationEvent,
} from './reginfo-view';
