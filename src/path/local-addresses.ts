import { networkInterfaces } from 'node:os';

/**
 * A cheap fingerprint of the machine's local addresses: it changes when an
 * interface gains or loses an address (Wi-Fi to cellular, VPN up, DHCP lease),
 * which is the client's cue to renew its socket before sends start failing.
 */
export function localAddressFingerprint(): string {
  let fingerprint = '';
  const interfaces = networkInterfaces();
  for (const name in interfaces) {
    const addresses = interfaces[name];
    if (addresses === undefined) continue;
    for (const info of addresses) fingerprint += `${name}=${info.address};`;
  }
  return fingerprint;
}
