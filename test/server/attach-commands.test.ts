import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTable, type ListedServer } from '../../src/server/attach-commands.js';

test('tsshd --list on a terminal: one row per session with name, title, start, last contact, size and attachment; errors as they came', () => {
  const now = 1_800_000_000;
  const servers: ListedServer[] = [
    { Pid: 41, Info: JSON.stringify({ Time: now - 100, Name: 'work', Sessions: [{ ID: 1, Title: 'vim\u001b]0;x', Started: now - 100, LastSeen: now, Cols: 120, Rows: 40, Attached: true }] }) },
    { Pid: 42, Info: JSON.stringify({ Time: now - 7200, Sessions: [{ ID: 2, Command: 'top', Started: now - 7200, LastSeen: now - 600, Cols: 80, Rows: 24, Attached: false }] }) },
    { Pid: 43, Info: 'tsshd 43: no answer within 3 s' },
  ];
  const lines = formatTable(servers, now).trimEnd().split('\n');
  assert.match(lines[0]!, /^ID +NAME +TITLE +STARTED +LAST SEEN +SIZE +ATTACHED$/);
  assert.match(lines[1]!, /^41\.1 +work +vim \]0;x +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +now +120x40 +yes$/);
  assert.match(lines[2]!, /^42\.2 +- +top +\S+ \S+ +10 min ago +80x24 +no$/);
  assert.equal(lines[3], 'tsshd 43: no answer within 3 s');
  assert.equal(formatTable([], now), 'no attachable tsshd sessions for this user\n');
});
