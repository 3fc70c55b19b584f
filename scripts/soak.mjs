#!/usr/bin/env node
// Long soak (after `npm run build`): a real tssh session at 5 % loss each way,
// its client address rebound every 30 s, the remote printing numbered lines
// the whole time; checks that no line is lost or reordered and samples the RSS
// of tssh and tsshd. Usage: node scripts/soak.mjs [minutes=30] [lossPct=5] [rebindSeconds=30]
const { runSoak, rssFlat } = await import('../dist/test/e2e/soak-run.js');

const minutes = Number(process.argv[2] ?? 30);
const lossPct = Number(process.argv[3] ?? 5);
const rebindSeconds = Number(process.argv[4] ?? 30);
if (!(minutes > 0) || !(lossPct >= 0 && lossPct < 100) || !(rebindSeconds > 0)) {
  console.error('soak: usage: node scripts/soak.mjs [minutes=30] [lossPct=5] [rebindSeconds=30]');
  process.exit(2);
}
console.log(`soak: ${minutes} min, ${lossPct} % loss each way, rebind every ${rebindSeconds} s`);
const r = await runSoak({
  seconds: Math.round(minutes * 60),
  lossPct,
  rebindEveryMs: rebindSeconds * 1000,
  sampleEveryMs: 30_000,
  onProgress: (line) => console.log(line),
});
const tssh = rssFlat(r.samples, 'tsshKiB');
const tsshd = rssFlat(r.samples, 'tsshdKiB');
console.log(`exit ${r.exitCode}; lines ${r.linesReceived}/${r.linesPrinted}; output ${r.outputError ?? 'intact and in order'}`);
console.log(`rebinds ${r.rebinds}; lost c2s ${r.lost.c2s} s2c ${r.lost.s2c}`);
console.log(`RSS tssh: warm ${tssh.warm} KiB, late ${tssh.late} KiB, ${tssh.flat ? 'flat' : 'GROWING'}`);
console.log(`RSS tsshd: warm ${tsshd.warm} KiB, late ${tsshd.late} KiB, ${tsshd.flat ? 'flat' : 'GROWING'}`);
if (r.stderr) console.log(`tssh stderr: ${r.stderr.trim()}`);
process.exit(r.exitCode === 0 && r.outputError === null && tssh.flat && tsshd.flat ? 0 : 1);
