export * from './sdp';
export * from './msrp-sdp';
