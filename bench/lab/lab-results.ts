/** The links the lab measures on, and the shape of bench/results/lab.json. */
import type { LinkSetting } from './link-emulator.js';
import type { EchoResult } from './measure-echo.js';
import type { ToolId } from './tools.js';

/** 1 % average loss in bursts: Gilbert-Elliott per packet, mean burst 4 packets. */
const BURSTY_1PCT = { enterPct: 0.2525, exitPct: 25 };

export const ECHO_LINKS: readonly LinkSetting[] = [0, 100].flatMap((rttMs) => [
  { label: `RTT ${rttMs} ms, no loss`, rttMs, lossPct: 0 },
  { label: `RTT ${rttMs} ms, 2 % loss`, rttMs, lossPct: 2 },
  { label: `RTT ${rttMs} ms, 10 % loss`, rttMs, lossPct: 10 },
  { label: `RTT ${rttMs} ms, 1 % bursty loss`, rttMs, lossPct: 0, burst: BURSTY_1PCT },
]);

export const BULK_LINKS: readonly LinkSetting[] = [
  { label: 'RTT 0 ms, no loss, no cap', rttMs: 0, lossPct: 0 },
  { label: 'RTT 50 ms, 1 % loss, 100 Mbit/s', rttMs: 50, lossPct: 1, rateMbit: 100 },
];

export const ROAMING_LINK: LinkSetting = { label: 'RTT 50 ms, no loss', rttMs: 50, lossPct: 0 };
export const STARTUP_LINKS: readonly LinkSetting[] = [
  { label: 'RTT 0 ms', rttMs: 0, lossPct: 0 },
  { label: 'RTT 100 ms', rttMs: 100, lossPct: 0 },
];
export const IDLE_LINK: LinkSetting = { label: 'RTT 50 ms, no loss', rttMs: 50, lossPct: 0 };

export interface CapacityResult {
  /** TCP through the emulator with no impairment. */
  emulatorMBps: number;
  emulatorPps: number;
  /** Emulator CPU per forwarded packet, µs, and the packet rate that implies for one core. */
  cpuUsPerPacket: number;
  ppsPerCore: number;
  /** The emulator's CPU use during the stream, percent of one core (near 100: the stream found its limit). */
  emulatorCpuPct?: number;
  /** The same TCP test over the plain veth pair (the kernel alone). */
  vethMBps: number;
  seconds: number;
  date: string;
}

export interface StartupResult {
  link: LinkSetting;
  tool: ToolId;
  /** ms from starting the client to READY> on its screen, per run. */
  samples: number[];
  medianMs: number;
  date: string;
}

export interface BulkResult {
  link: LinkSetting;
  tool: ToolId;
  /**
   * 'exec': `cat` of the file as a remote command, stdout a pipe; 'forward': a
   * TCP stream through -L; 'terminal': `seq` output flooding the terminal, timed
   * until its end is on screen.
   */
  mode: 'exec' | 'forward' | 'terminal';
  /** Bytes asked for and received. */
  sizeBytes: number;
  receivedBytes: number;
  /** ms from starting the client to the first byte, and from first to last byte. */
  firstByteMs: number;
  transferMs: number;
  /** Throughput over the transfer (first to last byte), MB/s (10^6 bytes). */
  mbPerSec: number;
  /** True when the time bound ended the transfer before all bytes arrived. */
  cutShort: boolean;
  /** The emulator's CPU use during the transfer, percent of one core (it is single-threaded). */
  emulatorCpuPct?: number;
  /** Why there is no number (tool cannot, not built yet, failed). */
  notMeasured?: string;
  date: string;
}

export interface RoamingToolResult {
  tool: ToolId;
  /** Median over the changes of the ms from a change to the first echo; null unless it recovered from every change. */
  firstEchoMs: number | null;
  /** The same for the first new output of the printing session. */
  firstOutputMs: number | null;
  /** Per change (null: nothing before the next change). */
  echoPerChange: Array<number | null>;
  outputPerChange: Array<number | null>;
  /** Event times relative to the first change (ms), for the timeline plot. */
  echoEvents: number[];
  outputEvents: number[];
  note?: string;
}

export interface RoamingResult {
  variant: 'address' | 'nat';
  link: LinkSetting;
  /** Time between changes, and the bound for each recovery. */
  gapMs: number;
  /** When the changes happened, ms from the first. */
  changesAtMs: number[];
  tools: RoamingToolResult[];
  date: string;
}

export interface IdleToolResult {
  tool: ToolId;
  /** Packets per minute through the emulator, each way. */
  c2sPerMin: number;
  s2cPerMin: number;
  /** CPU seconds per minute of the client process and of the server-side process. */
  clientCpuSecPerMin: number;
  serverCpuSecPerMin: number;
}

export interface IdleResult {
  link: LinkSetting;
  seconds: number;
  tools: IdleToolResult[];
  date: string;
}

export interface LabResults {
  date: string;
  quick: boolean;
  /** Where and on what: load averages, Node, the checkout's commit (with "+changes" when the tree differs). */
  host: { loadavgAtStart: number[]; loadavgAtEnd?: number[]; node: string; commit?: string };
  tools: Array<{ id: ToolId; label: string }>;
  capacity: CapacityResult | null;
  startup: StartupResult[];
  echo: EchoResult[];
  bulk: BulkResult[];
  roaming: RoamingResult[];
  idle: IdleResult | null;
  notes: string[];
  durationSec: number;
}
