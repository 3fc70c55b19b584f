/**
 * Control of the lab's link emulator (linkemu.c, compiled at lab start): one
 * command line in, one answer line out, in order. Settings apply to both
 * directions (each direction gets half the RTT as its one-way delay).
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';

/** One emulated link, as the tables name it. */
export interface LinkSetting {
  /** Short label, e.g. "RTT 100 ms, 2 % loss". */
  label: string;
  rttMs: number;
  /** Random loss each way, percent. */
  lossPct: number;
  /** Gilbert-Elliott bursty loss each way (per packet), percent. */
  burst?: { enterPct: number; exitPct: number };
  /** Rate cap each way in Mbit/s; absent means none. */
  rateMbit?: number;
  /** ± jitter of the one-way delay, ms. */
  jitterMs?: number;
}

/** Tail-drop queue of the rate cap: 20 ms at 100 Mbit/s. */
export const RATE_QUEUE_BYTES = 256 * 1024;

export interface DirectionStats {
  offered: number;
  delivered: number;
  bytes: number;
  lost: number;
  burstLost: number;
  queueDropped: number;
  poolDropped: number;
  writeFailed: number;
  natDropped: number;
  maxBacklog: number;
  held: number;
}

export interface EmulatorStats {
  c2s: DirectionStats;
  s2c: DirectionStats;
  cpuUserUs: number;
  cpuSysUs: number;
}

/** Packets seen per port, per direction: by the server's port, and by the client's (before the NAT). */
export interface PortCounts {
  c2s: Record<string, number>;
  s2c: Record<string, number>;
  clientC2s: Record<string, number>;
  clientS2c: Record<string, number>;
}

export class LinkEmulator {
  private buffered = '';
  private readonly waiting: Array<(line: string) => void> = [];
  private chain: Promise<unknown> = Promise.resolve();
  private exitedWith: string | null = null;
  /** The setting in force. */
  current: LinkSetting = { label: 'no impairment', rttMs: 0, lossPct: 0 };

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      this.buffered += chunk;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        this.waiting.shift()?.(line);
      }
    });
    child.once('exit', (code, signal) => {
      this.exitedWith = `linkemu exited (${code ?? signal})`;
      for (const w of this.waiting.splice(0)) w(`error ${this.exitedWith}`);
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Send one command and return its answer line (bounded: 5 s). */
  command(line: string): Promise<string> {
    const next = this.chain.then(
      () =>
        new Promise<string>((resolve, reject) => {
          if (this.exitedWith) return reject(new Error(this.exitedWith));
          const timer = setTimeout(() => reject(new Error(`linkemu did not answer '${line}'`)), 5000);
          this.waiting.push((answer) => {
            clearTimeout(timer);
            if (answer.startsWith('error')) reject(new Error(`linkemu: ${answer}`));
            else resolve(answer);
          });
          this.child.stdin.write(line + '\n');
        }),
    );
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Put a link setting in force, both directions, with a fixed PRNG seed. */
  async apply(link: LinkSetting, seed = 7): Promise<void> {
    await this.command('clear');
    const ppm = (pct: number): number => Math.round(pct * 10_000);
    const parts = [
      `delay_us=${Math.round((link.rttMs / 2) * 1000)}`,
      `jitter_us=${Math.round((link.jitterMs ?? 0) * 1000)}`,
      `loss_ppm=${ppm(link.lossPct)}`,
      `ge_enter_ppm=${link.burst ? ppm(link.burst.enterPct) : 0}`,
      `ge_exit_ppm=${link.burst ? ppm(link.burst.exitPct) : 0}`,
      `rate_bps=${link.rateMbit ? Math.round((link.rateMbit * 1e6) / 8) : 0}`,
      `queue_bytes=${RATE_QUEUE_BYTES}`,
    ];
    await this.command(`set c2s ${parts.join(' ')} seed=${seed}`);
    await this.command(`set s2c ${parts.join(' ')} seed=${seed + 1000}`);
    this.current = link;
  }

  async stats(): Promise<EmulatorStats> {
    return JSON.parse(await this.command('stats')) as EmulatorStats;
  }

  async ports(): Promise<PortCounts> {
    return JSON.parse(await this.command('ports')) as PortCounts;
  }

  async reset(): Promise<void> {
    await this.command('reset');
  }

  /** Port-translating NAT for the client's UDP and TCP ports. */
  async nat(on: boolean): Promise<void> {
    await this.command(`nat ${on ? 'on' : 'off'}`);
  }

  /** New NAT mapping: the server sees new source ports; replies to the old ones are dropped. */
  async rebind(): Promise<void> {
    await this.command('rebind');
  }
}
