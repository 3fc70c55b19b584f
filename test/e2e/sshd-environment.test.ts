import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SshdFixture } from '../support/sshd.js';
import { cleanEnv, killLeftovers, runCollect, runTssh } from './harness.js';

// What sshd imposes on a login's sessions reaches tsshd's sessions too, compared with ssh's on the same sshd:
// SetEnv, PermitUserEnvironment with authorized_keys environment=, and the sshd_config of the sshd that
// was started with -f (tsshd finds it from the running sshd, not /etc/ssh/sshd_config).
let sshd: SshdFixture;
before(async () => {
  sshd = await SshdFixture.start({
    sshdConfig: ['PermitUserEnvironment DROPIN_*', 'AcceptEnv DROPIN_SENT'],
    clientConfig: ['SendEnv DROPIN_SENT'],
  });
  // No tsshd file of the user's: tsshd must find the fixture's sshd_config (sshd -f) by itself.
  rmSync(join(sshd.dir, 'xdg', 'tsshd', 'sshd_config'));
  const keys = readFileSync(join(sshd.dir, 'authorized_keys'), 'utf8');
  writeFileSync(join(sshd.dir, 'authorized_keys'), `environment="DROPIN_KEY=from-key",environment="OTHER_KEY=refused" ${keys}`, { mode: 0o600 });
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
});

const SHOW = 'echo "set=$XDG_CONFIG_HOME key=$DROPIN_KEY other=$OTHER_KEY sent=$DROPIN_SENT"';

test('SetEnv, authorized_keys environment= (under PermitUserEnvironment) and AcceptEnv from the -f config: as with ssh', async () => {
  const env = cleanEnv({ DROPIN_SENT: 'from-client' });
  const ssh = await runCollect('ssh', [...sshd.configArgs, sshd.host, SHOW], { env });
  const tssh = await runTssh([...sshd.configArgs, '--udp', sshd.host, SHOW], { env });
  assert.equal(ssh.stdout.toString(), `set=${join(sshd.dir, 'xdg')} key=from-key other= sent=from-client\n`, ssh.stderr);
  assert.equal(tssh.status, 0, tssh.stderr);
  assert.equal(tssh.stdout.toString(), ssh.stdout.toString());
});
