import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImpairmentProxy } from '../support/impairment-proxy.js';
import { SshdFixture } from '../support/sshd.js';
import { cleanEnv, freeUdpPort, killLeftovers, PtyTssh } from './harness.js';

// The predictive echo corpus: scripted sessions typed key by key over RTT 100 ms with 5 % loss each way, once with
// prediction off and once with --predict=always, side by side. At every checkpoint both screens are identical (read
// with a headless xterm), the output proves no key was lost, and the password never reaches the terminal.

const COLS = 60;
const ROWS = 16;
const KEY_GAP_MS = 35;
const PASSWORD = 'Qz7Jx9Wv';

let sshd: SshdFixture;
let work: string;
const stats: Array<{ keys: number; predicted: number; shown: number; confirmed: number; wrong: number }> = [];
before(async () => {
  sshd = await SshdFixture.start();
  work = mkdtempSync(join(tmpdir(), 'tssh-predict-'));
  mkdirSync(join(work, 'Documents-of-mine'));
  execFileSync('sh', ['-c', `seq 1 300 > ${join(work, 'numbers.txt')}`]);
});
after(async () => {
  killLeftovers();
  await sshd?.stop();
  rmSync(work, { recursive: true, force: true });
});

interface Run {
  term: PtyTssh;
  proxy: ImpairmentProxy;
  statsFile: string;
}

async function open(predict: 'never' | 'always', command: string): Promise<Run> {
  const tsshdPort = await freeUdpPort();
  const lossy = { delayMs: 50, lossPct: 5 };
  const proxy = await ImpairmentProxy.start({ targetHost: '127.0.0.1', targetPort: tsshdPort, clientToServer: lossy, serverToClient: lossy, seed: 7 });
  const statsFile = join(work, `stats-${predict}-${proxy.port}.json`);
  const args = [...sshd.configArgs, '--udp', '--tsshd-port', String(tsshdPort), `--predict=${predict}`, '-o', 'UdpReconnectTimeout=1', '-t', sshd.host, command];
  const term = new PtyTssh(args, {
    cols: COLS,
    rows: ROWS,
    env: cleanEnv({ TERM: 'xterm-256color', LANG: 'C.UTF-8', TSSH_TEST_UDP_TARGET: `127.0.0.1:${proxy.port}`, TSSH_TEST_PREDICT_STATS: statsFile }),
  });
  return { term, proxy, statsFile };
}

/** Both runs do the same thing at the same time. */
class Pair {
  constructor(readonly off: Run, readonly on: Run) {}

  /** Type `keys` (one array element per key) KEY_GAP_MS apart into both. */
  async type(...keys: string[]): Promise<void> {
    for (const k of keys) {
      this.off.term.type(k);
      this.on.term.type(k);
      await new Promise((r) => setTimeout(r, KEY_GAP_MS));
    }
  }

  /** Type `text` character by character. */
  async typeText(text: string): Promise<void> {
    await this.type(...[...text]);
  }

  /** Wait for `pattern` on both screens, then require them identical. */
  async check(what: string, pattern: RegExp): Promise<void> {
    await Promise.all([this.off.term.waitForScreen(`${what} (off)`, pattern, 40_000), this.on.term.waitForScreen(`${what} (always)`, pattern, 40_000)]);
    assert.equal(this.on.term.text(), this.off.term.text(), `${what}: the screen with prediction is the screen without`);
  }

  /** End whatever still runs (after a failure). */
  dispose(): void {
    for (const run of [this.off, this.on]) {
      run.term.close();
      run.proxy.close();
    }
  }

  /** Leave the shell, end both runs, and require that at least `minShown` predictions were shown. */
  async exit(t: TestContext, name: string, minShown: number): Promise<void> {
    await this.typeText('exit');
    await this.type('\r');
    await this.close();
    const s = stats[stats.length - 1]!;
    t.diagnostic(`${name}: ${JSON.stringify(s)}`);
    assert.ok(s.shown > minShown, `predictions were shown (${s.shown} of ${s.keys} keys)`);
  }

  async close(): Promise<void> {
    await Promise.all([this.off.term.waitForExit(40_000), this.on.term.waitForExit(40_000)]);
    this.dispose();
    assert.ok(existsSync(this.on.statsFile), 'tssh wrote the prediction counts');
    stats.push(JSON.parse(readFileSync(this.on.statsFile, 'utf8')) as (typeof stats)[number]);
  }
}

async function pair(command: string): Promise<Pair> {
  return new Pair(await open('never', command), await open('always', command));
}

const BASH = `cd ${'WORK'} && LANG=C.UTF-8 LC_ALL=C.UTF-8 PS1='$ ' exec bash --norc --noprofile -i`;

test('bash: typing, backspace and arrows, CJK, tab completion, the right margin, a read -s password, python, less, vim', async (t) => {
  const p = await pair(BASH.replace('WORK', work));
  t.after(() => p.dispose());
  await p.check('the prompt', /^\$ $/m);

  await p.typeText('echo helo wrld');
  await p.type('\x1b[D', '\x1b[D', '\x1b[D', 'o', '\x1b[D', '\x1b[D', '\x1b[D', '\x1b[D', '\x1b[D', 'l', '\x1b[C', '\x7f', 'l', '\r');
  await p.check('backspace and arrows', /^hello world\n\$ $/m);

  await p.typeText('echo 你好，世界 ok');
  await p.type('\x7f', '\x7f', '\r');
  await p.check('CJK', /^你好，世界\n\$ $/m);

  await p.typeText('ls -d Docu');
  await p.type('\t');
  await p.typeText('x');
  await p.type('\x7f', '\r');
  await p.check('tab completion', /^Documents-of-mine\/?\n\$ $/m);

  const long = 'abcdefghijklmnopqrstuvwxyz'.repeat(3);
  await p.typeText(`echo ${long}`);
  await p.type('\r');
  await p.check('past the right margin', new RegExp(`^${long.slice(0, COLS)}\\n${long.slice(COLS)}\\n\\$ $`, 'm'));

  const promptAt = p.on.term.output.length;
  await p.typeText("read -s -p 'PW: ' pw; echo; echo got ${#pw}");
  await p.type('\r');
  await p.check('the password prompt', /^PW: $/m);
  await p.typeText(PASSWORD);
  await p.type('\r');
  await p.check('the password read', /^got 8\n\$ $/m);
  const written = p.on.term.output.slice(promptAt);
  assert.ok(!written.includes(PASSWORD), 'the password never reached the terminal');
  const answered = written.indexOf('got 8');
  const afterPrompt = written.slice(written.lastIndexOf('PW: ', answered) + 'PW: '.length, answered);
  for (const ch of PASSWORD) assert.ok(!afterPrompt.includes(ch), `no byte of the password (${ch}) was written`);

  // The tty's own echo (cat in cooked mode) shows Left as ^[[D: the predicted move is wrong and must be repaired.
  await p.typeText('cat');
  await p.type('\r');
  await p.check('cat', /^\$ cat\n$/m);
  await p.typeText('abc');
  await p.type('\x1b[D');
  await p.typeText('d');
  await p.type('\r', '\x04');
  await p.check('cooked echo', /^abc\^\[\[Dd\nabd\n\$ $/m);

  await p.typeText('/usr/bin/python3 -q');
  await p.type('\r');
  await p.check('python', /^>>> $/m);
  await p.typeText('print(6*7, "py")');
  await p.type('\x1b[D', '\x1b[D', '\x1b[D', '\x7f', '\r');
  await p.check('python output', /^42 y\n>>> $/m);
  await p.typeText('exit()');
  await p.type('\r');
  await p.check('python gone', /^\$ $/m);

  await p.typeText('less numbers.txt');
  await p.type('\r');
  await p.check('less', /^numbers\.txt$/m);
  await p.type(' ');
  await p.typeText('/250');
  await p.type('\r');
  await p.check('less search', /^250$/m);
  await p.type('q');
  await p.check('less gone', /^\$ less numbers\.txt\n\$ $/m);

  if (!existsSync('/usr/bin/vim')) {
    t.diagnostic('vim is not installed: its part is skipped');
  } else {
    await vimInsertMode(p);
  }

  await p.exit(t, 'bash', 50);
});

async function vimInsertMode(p: Pair): Promise<void> {
  await p.typeText('vim -u NONE -N -n x.txt');
  await p.type('\r');
  await p.check('vim', /^~/m);
  await p.typeText('ihello vim 你好 there');
  await p.type('\x7f', '\x7f', '\x1b');
  await p.typeText('0iX');
  await p.type('\x1b');
  await p.check('vim insert mode', /^Xhello vim 你好 the$/m);
  await p.typeText(':q!');
  await p.type('\r');
  await p.check('vim gone', /^\$ $/m);
}

test('zsh: typing, backspace and arrows, tab completion, a second line', { skip: existsSync('/usr/bin/zsh') ? false : 'zsh is not installed' }, async (t) => {
  const p = await pair(`cd ${work} && LANG=C.UTF-8 LC_ALL=C.UTF-8 PS1='%% ' exec zsh -f -i`);
  t.after(() => p.dispose());
  await p.check('the prompt', /^% $/m);
  await p.typeText('echo zsh tsting');
  await p.type('\x1b[D', '\x1b[D', '\x1b[D', '\x1b[D', '\x1b[D', 'e', '\x1b[C', '\x7f', 's', '\r');
  await p.check('backspace and arrows', /^zsh testing\n% $/m);
  await p.typeText('print -r -- Docu');
  await p.type('\t');
  await p.type('\r');
  await p.check('tab completion', /^Documents-of-mine\/?\n% $/m);
  await p.typeText('echo 你好 zsh');
  await p.type('\r');
  await p.check('CJK', /^你好 zsh\n% $/m);
  await p.exit(t, 'zsh', 10);
});

test('with prediction on, the outage notice comes and goes through the screen model and typing carries on', async (t) => {
  const run = await open('always', BASH.replace('WORK', work));
  const { term, proxy } = run;
  t.after(() => {
    term.close();
    proxy.close();
  });
  await term.waitForScreen('the prompt', /^\$ $/m, 40_000);
  // The prompt at the bottom, away from the notice's rows.
  term.type('seq 30\r');
  await term.waitForScreen('seq', /^30\n\$ $/m, 40_000);
  term.type('echo one');
  await term.waitForScreen('typed', /^\$ echo one$/m, 40_000);
  proxy.c2s.outage(Infinity);
  proxy.s2c.outage(Infinity);
  await term.waitForScreen('the outage notice', /^tssh: no reply from /m, 40_000);
  proxy.c2s.endOutage();
  proxy.s2c.endOutage();
  await term.waitForScreen('the notice to go', /^(?![\s\S]*tssh: no reply)[\s\S]*\$ echo one(\n|$)/, 40_000);
  for (const ch of ' two\r') {
    term.type(ch);
    await new Promise((r) => setTimeout(r, KEY_GAP_MS));
  }
  await term.waitForScreen('the command after the outage', /^one two\n\$ $/m, 40_000);
  term.type('exit\r');
  assert.equal(await term.waitForExit(40_000), 0);
});

test('the corpus: wrong predictions per 1,000 keys', (t) => {
  const keys = stats.reduce((n, s) => n + s.keys, 0);
  const wrong = stats.reduce((n, s) => n + s.wrong, 0);
  const shown = stats.reduce((n, s) => n + s.shown, 0);
  t.diagnostic(`corpus: ${keys} keys, ${shown} shown, ${wrong} wrong: ${((1000 * wrong) / Math.max(1, keys)).toFixed(1)} wrong per 1,000 keys`);
  assert.ok(keys > 0);
});
