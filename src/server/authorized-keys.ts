/**
 * authorized_keys lines as sshd reads them (sshd(8), "AUTHORIZED_KEYS FILE
 * FORMAT"): optional comma-separated options, the key type, the base64 key
 * and a comment. Only what tsshd needs: find the line a login used and read
 * its options.
 */

/** One option: `name` or `name="value"` (quotes and `\"` removed). */
export interface KeyOption {
  name: string;
  value?: string;
}

/** A parsed line. */
export interface AuthorizedKey {
  options: KeyOption[];
  keyType: string;
  /** The decoded key (for `cert-authority` lines: the CA's key). */
  key: Buffer;
}

/** Key types sshd knows; a line starting with anything else starts with options. */
function isKeyType(word: string): boolean {
  return /^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)(-cert-v01@openssh\.com)?$/.test(word);
}

/** Read options from the start of `line`; returns them and where they end, or null if malformed (sshd skips such lines). */
function readOptions(line: string): { options: KeyOption[]; end: number } | null {
  const options: KeyOption[] = [];
  let i = 0;
  for (;;) {
    const name = /^[A-Za-z0-9-]+/.exec(line.slice(i));
    if (name === null) return null;
    i += name[0].length;
    const option: KeyOption = { name: name[0].toLowerCase() };
    if (line[i] === '=') {
      if (line[++i] !== '"') return null;
      let value = '';
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && line[i + 1] === '"') i++;
        value += line[i];
      }
      if (line[i++] !== '"') return null;
      option.value = value;
    }
    options.push(option);
    if (line[i] === ',') {
      i++;
      continue;
    }
    if (line[i] === ' ' || line[i] === '\t') return { options, end: i };
    return null;
  }
}

/** Parse one line; null for blank lines, comments and lines sshd would not accept. */
export function parseAuthorizedKey(raw: string): AuthorizedKey | null {
  const line = raw.trim();
  if (line === '' || line.startsWith('#')) return null;
  let options: KeyOption[] = [];
  let rest = line;
  const first = line.split(/[ \t]/, 1)[0] ?? '';
  if (!isKeyType(first)) {
    const read = readOptions(line);
    if (read === null) return null;
    options = read.options;
    rest = line.slice(read.end).trim();
  }
  const [keyType, base64] = rest.split(/[ \t]+/);
  if (keyType === undefined || base64 === undefined || !isKeyType(keyType) || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return null;
  return { options, keyType, key: Buffer.from(base64, 'base64') };
}

/** Every line of an authorized_keys file's text that parses. */
export function parseAuthorizedKeys(text: string): AuthorizedKey[] {
  const keys: AuthorizedKey[] = [];
  for (const line of text.split('\n')) {
    const key = parseAuthorizedKey(line);
    if (key !== null) keys.push(key);
  }
  return keys;
}

/**
 * sshd's AuthorizedKeysFile tokens: %% a percent, %h the home directory, %u
 * the user, %U the uid; a relative path is taken from the home directory.
 */
export function expandAuthorizedKeysPath(pattern: string, user: { name: string; home: string; uid: number }): string {
  const path = pattern.replace(/%([%huU])/g, (_, t: string) => (t === '%' ? '%' : t === 'h' ? user.home : t === 'u' ? user.name : String(user.uid)));
  return path.startsWith('/') ? path : `${user.home}/${path}`;
}
