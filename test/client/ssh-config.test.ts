import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  commandLineConfig,
  evaluateSshConfig,
  loadSshConfigFiles,
  MAX_INCLUDE_DEPTH,
  parseSshConfig,
  resolveIncludePath,
  type SshConfigContext,
  type SshConfigFile,
} from '../../src/client/ssh-config.js';
import type { ConfigText } from '../../src/protocol/config-files.js';

const HOME = '/home/u';

function parse(text: string, files: Record<string, string> = {}): SshConfigFile {
  return parseSshConfig(text, { path: `${HOME}/.ssh/config`, home: HOME, readInclude: fakeReader(files) });
}

// Glob over an in-memory file set, with the same `*` semantics as the real reader.
function fakeReader(files: Record<string, string>): (pattern: string) => ConfigText[] {
  return (pattern) => {
    const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
    return Object.keys(files)
      .filter((p) => re.test(p))
      .sort()
      .map((path) => ({ path, text: files[path]! }));
  };
}

function values(file: SshConfigFile | SshConfigFile[], context: Partial<SshConfigContext> & { host: string }, keyword: string): string[] {
  const effective = evaluateSshConfig(Array.isArray(file) ? file : [file], { localUser: 'me', exec: () => false, ...context });
  return effective.all(keyword).map((v) => v.args.join(' '));
}

test('Host patterns: wildcards, ?, negation, space and comma lists, case-insensitive', () => {
  const config = parse(`
Host *.example.com !bad.example.com
  Port 1
Host web? db1,db2
  Port 2
Host UPPER
  Port 3
Host *
  Port 4
`);
  assert.deepEqual(values(config, { host: 'a.example.com' }, 'port'), ['1', '4']);
  assert.deepEqual(values(config, { host: 'bad.example.com' }, 'port'), ['4']);
  assert.deepEqual(values(config, { host: 'web1' }, 'port'), ['2', '4']);
  assert.deepEqual(values(config, { host: 'web12' }, 'port'), ['4']);
  assert.deepEqual(values(config, { host: 'db2' }, 'port'), ['2', '4']);
  assert.deepEqual(values(config, { host: 'Upper' }, 'port'), ['3', '4']);
});

test('a Host line with only negated patterns never matches', () => {
  assert.deepEqual(values(parse('Host !a\n Port 1\n'), { host: 'b' }, 'port'), []);
});

test('first obtained value wins; lines before any Host apply to all', () => {
  const config = parse('User global\nHost h\n  User specific\n  Port 2\nHost *\n  Port 3\n');
  const effective = evaluateSshConfig([config], { host: 'h', localUser: 'me' });
  assert.equal(effective.first('user')?.args[0], 'global');
  assert.equal(effective.first('port')?.args[0], '2');
  assert.equal(effective.first('port')?.where, '~/.ssh/config line 4');
  assert.equal(effective.first('nothing'), undefined);
});

test('#!! lines are options visible to tssh, in their Host block', () => {
  const config = parse('Host h\n  #!! UdpMode yes\n  # plain comment\n   #!!TsshdPath /opt/tsshd\n');
  const effective = evaluateSshConfig([config], { host: 'h', localUser: 'me' });
  assert.deepEqual(effective.values.map((v) => [v.keyword, v.args, v.hidden]), [
    ['udpmode', ['yes'], true],
    ['tsshdpath', ['/opt/tsshd'], true],
  ]);
  assert.deepEqual(values(config, { host: 'other' }, 'udpmode'), []);
});

test('Match all, host (after HostName), originalhost, user, localuser, negation, canonical and final', () => {
  const config = parse(`
Host alias
  HostName real.%h.net
Match host real.alias.net
  Port 1
Match originalhost alias
  Port 2
Match !host nothing*
  Port 3
Match user bob
  Port 4
Match localuser me
  Port 5
Match canonical all
  Port 6
Match final host real*
  Port 7
Match all
  Port 8
`);
  assert.deepEqual(values(config, { host: 'alias', user: 'bob' }, 'port'), ['1', '2', '3', '4', '5', '6', '7', '8']);
  assert.deepEqual(values(config, { host: 'other', localUser: 'you' }, 'port'), ['3', '6', '8']);
});

test('Match user sees the User obtained so far, else the local user', () => {
  const config = parse('Host h\n  User alice\nMatch user alice\n  Port 1\nMatch user me\n  Port 2\n');
  assert.deepEqual(values(config, { host: 'h' }, 'port'), ['1']);
  assert.deepEqual(values(config, { host: 'x' }, 'port'), ['2']);
  assert.deepEqual(values(config, { host: 'h', user: 'me' }, 'port'), ['2']);
});

test('Match exec runs the callback with tokens expanded, skipped once the line already fails', () => {
  const ran: string[] = [];
  const config = parse('Match exec "test %h %n %p %r %u %%"\n  Port 1\nMatch host nope exec "never"\n  Port 2\nMatch !exec "fails"\n  Port 3\n');
  const effective = evaluateSshConfig([config], {
    host: 'h',
    originalHost: 'H0',
    user: 'bob',
    localUser: 'me',
    port: 2222,
    exec: (command) => {
      ran.push(command);
      return command.startsWith('test');
    },
  });
  assert.deepEqual(ran, ['test h h0 2222 bob me %', 'fails']);
  assert.deepEqual(effective.all('port').map((v) => v.args[0]), ['1', '3']);
});

test('newer Match criteria are reported and do not match', () => {
  const config = parse('Match localnetwork 10.0.0.0/8\n  Port 1\n');
  const effective = evaluateSshConfig([config], { host: 'h', localUser: 'me' });
  assert.equal(effective.all('port').length, 0);
  assert.deepEqual(effective.warnings, ['~/.ssh/config line 1: Match localnetwork is not supported by tssh; treated as not matching']);
});

test('Match tagged uses the tag from the context or a Tag line', () => {
  assert.deepEqual(values(parse('Match tagged work\n  Port 1\n'), { host: 'h', tag: 'work' }, 'port'), ['1']);
  assert.deepEqual(values(parse('Tag work\nMatch tagged work\n  Port 1\n'), { host: 'h' }, 'port'), ['1']);
});

test('Include: relative to ~/.ssh, ~ paths, globs in lexical order', () => {
  const files = {
    [`${HOME}/.ssh/conf.d/b.conf`]: 'Port 2\n',
    [`${HOME}/.ssh/conf.d/a.conf`]: 'Port 1\n',
    [`${HOME}/extra`]: 'Port 3\n',
    '/abs/file': 'Port 4\n',
  };
  const config = parse('Include conf.d/*.conf ~/extra\nInclude /abs/file /no/such/file\n', files);
  assert.deepEqual(values(config, { host: 'h' }, 'port'), ['1', '2', '3', '4']);
  const included = config.entries[0]!;
  assert.equal(included.kind === 'include' && included.files[0]!.display, '~/.ssh/conf.d/a.conf');
});

test('Include inside a non-matching Host block contributes nothing, even its Host * lines', () => {
  const files = { [`${HOME}/.ssh/inc`]: 'Port 1\nHost *\n  Port 2\n' };
  const config = parse('Host special\n  Include inc\nHost *\n  User x\n', files);
  assert.deepEqual(values(config, { host: 'other' }, 'port'), []);
  assert.deepEqual(values(config, { host: 'special' }, 'port'), ['1', '2']);
});

test('Host/Match in an included file does not change the including file state', () => {
  const files = { [`${HOME}/.ssh/inc`]: 'Host nomatch\n  Port 1\n' };
  const config = parse('Include inc\nPort 2\n', files);
  assert.deepEqual(values(config, { host: 'h' }, 'port'), ['2']);
});

test('Include nesting is bounded (a self-include is an error, not a hang)', () => {
  const files = { [`${HOME}/.ssh/loop`]: 'Include loop\n' };
  assert.throws(() => parse('Include loop\n', files), {
    message: `~/.ssh/loop line 1: Include nested more than ${MAX_INCLUDE_DEPTH} deep; check for a file that includes itself`,
  });
  const chain: Record<string, string> = {};
  for (let i = 1; i < MAX_INCLUDE_DEPTH; i++) chain[`${HOME}/.ssh/f${i}`] = `Include f${i + 1}\n`;
  chain[`${HOME}/.ssh/f${MAX_INCLUDE_DEPTH}`] = 'Port 16\n';
  assert.deepEqual(values(parse('Include f1\n', chain), { host: 'h' }, 'port'), ['16']);
});

test('resolveIncludePath: user files under ~/.ssh, system files under /etc/ssh', () => {
  assert.equal(resolveIncludePath('x.conf', HOME, false), `${HOME}/.ssh/x.conf`);
  assert.equal(resolveIncludePath('x.conf', HOME, true), '/etc/ssh/x.conf');
  assert.equal(resolveIncludePath('~/x', HOME, true), `${HOME}/x`);
  assert.equal(resolveIncludePath('/x', undefined, false), '/x');
  assert.throws(() => resolveIncludePath('~/x', undefined, false), /no home directory to resolve ~; set HOME/);
});

test('syntax errors name the file and line', () => {
  assert.throws(() => parse('\nHost\n'), { message: '~/.ssh/config line 2: Host needs at least one pattern, e.g. Host *.example.com' });
  assert.throws(() => parse('User "open\n'), { message: '~/.ssh/config line 1: unterminated double quote; close it or remove it' });
  assert.throws(() => parse('#!! Host x\n'), { message: '~/.ssh/config line 1: Host cannot be hidden in a #!! line; write it as a normal line' });
  assert.throws(() => parse('Match\n'), /line 1: Match needs criteria/);
  assert.throws(() => parse('Match host\n'), /line 1: Match host needs an argument/);
  assert.throws(() => parse('Match all host x\n'), /Match all must appear alone or right after canonical or final/);
  assert.throws(() => parse('Match host x all\n'), /Match all must appear alone/);
  assert.throws(() => parse('Match bogus x\n'), /line 1: unknown Match criterion "bogus"; use all, canonical/);
  assert.throws(() => parse('Include\n'), /line 1: Include needs a file name or pattern/);
});

test('commandLineConfig turns -o pairs into a file that comes first', () => {
  const cli = commandLineConfig([{ key: 'port', value: '9' }, { key: 'sendenv', value: '"A B" C' }]);
  assert.deepEqual(values([cli, parse('Port 1\n')], { host: 'h' }, 'port'), ['9', '1']);
  assert.deepEqual(evaluateSshConfig([cli], { host: 'h', localUser: 'me' }).first('sendenv')?.args, ['A B', 'C']);
  assert.equal(evaluateSshConfig([cli], { host: 'h', localUser: 'me' }).first('port')?.where, '-o port');
  assert.throws(() => commandLineConfig([{ key: 'host', value: 'x' }]), { message: '-o host: host cannot be given with -o; put it in a config file' });
});

test('loadSshConfigFiles: user then system, -F replaces both, -F none means no files', () => {
  const disk: Record<string, string> = { [`${HOME}/.ssh/config`]: 'Port 1\n', '/etc/ssh/ssh_config': 'Port 2\n', '/tmp/f': 'Port 3\n' };
  const readFile = (p: string) => disk[p];
  const both = loadSshConfigFiles({ home: HOME, readFile });
  assert.deepEqual(both.map((f) => f.display), ['~/.ssh/config', '/etc/ssh/ssh_config']);
  assert.deepEqual(values(both, { host: 'h' }, 'port'), ['1', '2']);
  assert.deepEqual(loadSshConfigFiles({ home: HOME, readFile, configFile: '/tmp/f' }).map((f) => f.path), ['/tmp/f']);
  assert.deepEqual(loadSshConfigFiles({ home: HOME, readFile, configFile: 'none' }), []);
  assert.throws(() => loadSshConfigFiles({ home: HOME, readFile, configFile: '/nope' }), {
    message: 'tssh: cannot open -F file "/nope": no such file; check the path',
  });
  assert.deepEqual(loadSshConfigFiles({ home: HOME, readFile: () => undefined }), []);
});

test('property: random config text parses or throws a one-line Error, and evaluation never throws', () => {
  const line = fc.oneof(
    fc.constantFrom('Host *', 'Host a,!b', 'Match all', 'Match host a*', 'Match !user x', 'Match exec "x"', '#!! UdpMode yes', 'Port 1', 'Include x', '"', 'Match'),
    fc.string({ maxLength: 30 }),
  );
  fc.assert(
    fc.property(fc.array(line, { maxLength: 10 }), fc.string({ maxLength: 10 }), (lines, host) => {
      let file: SshConfigFile;
      try {
        file = parse(lines.join('\n'), { [`${HOME}/.ssh/x`]: 'Port 2\nHost *\n' });
      } catch (err) {
        assert.equal((err as Error).constructor, Error);
        assert.doesNotMatch((err as Error).message, /[\n\r]/);
        return;
      }
      evaluateSshConfig([file], { host, localUser: 'me', exec: () => true });
    }),
    { seed: 7, numRuns: 500 },
  );
});
