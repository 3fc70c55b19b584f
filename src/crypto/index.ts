/** The crypto layer: session secret, key schedule, AEAD sealing of datagrams, replay protection. */
export * from './aes-gcm.js';
export * from './direction.js';
export * from './key-schedule.js';
export * from './replay-window.js';
export * from './sealed-datagram.js';
export * from './session-secret.js';
export * from './rekey-keys.js';
