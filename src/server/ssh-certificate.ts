/**
 * The parts of an OpenSSH user certificate (PROTOCOL.certkeys) that limit a
 * login: its extensions (permit-pty, permit-port-forwarding, ...), critical
 * options and validity, and the CA key that signed it.
 */

/** What a certificate allows. */
export interface SshCertificate {
  keyType: string;
  /** Extension names present (each one permits something; an absent one denies it). */
  extensions: Set<string>;
  /** Critical options by name (force-command, source-address, ...), values decoded. */
  criticalOptions: Map<string, string>;
  /** Seconds since the epoch; 2^64-1 means forever. */
  validBefore: bigint;
  /** The signing CA's public key blob. */
  caKey: Buffer;
}

/** Public key fields after the nonce, by certificate type (strings and mpints alike are length-prefixed). */
const KEY_FIELDS: Record<string, number> = {
  'ssh-rsa-cert-v01@openssh.com': 2,
  'ssh-dss-cert-v01@openssh.com': 4,
  'ecdsa-sha2-nistp256-cert-v01@openssh.com': 2,
  'ecdsa-sha2-nistp384-cert-v01@openssh.com': 2,
  'ecdsa-sha2-nistp521-cert-v01@openssh.com': 2,
  'ssh-ed25519-cert-v01@openssh.com': 1,
  'sk-ecdsa-sha2-nistp256-cert-v01@openssh.com': 3,
  'sk-ssh-ed25519-cert-v01@openssh.com': 2,
};

/** Whether a key type names a certificate. */
export function isCertificateType(keyType: string): boolean {
  return Object.hasOwn(KEY_FIELDS, keyType);
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  string(): Buffer {
    const n = this.u32();
    if (this.at + n > this.buf.length) throw new Error('truncated certificate');
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  u32(): number {
    if (this.at + 4 > this.buf.length) throw new Error('truncated certificate');
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  u64(): bigint {
    if (this.at + 8 > this.buf.length) throw new Error('truncated certificate');
    const v = this.buf.readBigUInt64BE(this.at);
    this.at += 8;
    return v;
  }
}

/** name/data pairs (critical options and extensions); the data of each is itself a string when not empty. */
function readPairs(blob: Buffer): Map<string, string> {
  const r = new Reader(blob);
  const out = new Map<string, string>();
  let left = blob.length;
  while (left > 0) {
    const name = r.string().toString('utf8');
    const data = r.string();
    out.set(name, data.length >= 4 ? new Reader(data).string().toString('utf8') : '');
    left -= 8 + Buffer.byteLength(name) + data.length;
  }
  return out;
}

/** Decode a certificate blob; throws Error('... certificate') if it is not one or is malformed. */
export function parseCertificate(blob: Buffer): SshCertificate {
  const r = new Reader(blob);
  const keyType = r.string().toString('utf8');
  const fields = KEY_FIELDS[keyType];
  if (fields === undefined) throw new Error(`${keyType} is not a certificate`);
  r.string(); // nonce
  for (let i = 0; i < fields; i++) r.string();
  r.u64(); // serial
  r.u32(); // type (user / host)
  r.string(); // key id
  r.string(); // principals
  r.u64(); // valid after
  const validBefore = r.u64();
  const criticalOptions = readPairs(r.string());
  const extensions = new Set(readPairs(r.string()).keys());
  r.string(); // reserved
  const caKey = r.string();
  return { keyType, extensions, criticalOptions, validBefore, caKey: Buffer.from(caKey) };
}
