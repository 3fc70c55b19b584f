/**
 * The reference family's KCP mode, one layer: kcp-go's datagram framing
 * (AEAD + FEC header, kcp-framing.ts), our KCP engine speaking plain ikcp
 * segments (copies unmarked, as kcp-go reads frg as a fragment count), smux
 * v2 above it, and kcp-go's out-of-band datagrams beside it.
 *
 * It sits on a DatagramLink: whatever carries whole datagrams to the peer
 * (the proxy path of path/reference-client-path.ts, or a server's client
 * slot). The client picks a random conversation id; the server adopts the
 * id of the first datagram that opens (kcp-go's listener does the same).
 */
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Kcp, type KcpOptions } from '../kcp/kcp.js';
import { ReferenceKcpCipher } from './kcp-cipher.js';
import { REFERENCE_KCP_OVERHEAD, ReferenceKcpFraming, type FramingOptions } from './kcp-framing.js';
import { SmuxSession, type SmuxOptions, type SmuxStream } from './smux.js';

/** The reference's datagram size when neither side sets an MTU. */
export const REFERENCE_DEFAULT_MTU = 1400;
/** Bytes of an OOB datagram's own header inside the KCP payload budget (conv), and the forwarder's channel id. */
const OOB_CONV = 4;

/** Carries whole datagrams to and from the peer. */
export interface DatagramLink {
  send(datagram: Buffer): void;
}

export interface ReferenceKcpSessionOptions {
  role: 'client' | 'server';
  /** ServerInfo.Pass and ServerInfo.Salt. */
  pass: Uint8Array;
  salt: Uint8Array;
  /** Datagram size on the wire (ServerInfo.MTU, or the reference default 1400). */
  mtu?: number;
  /** Client: the conversation id (random by default). Server: learnt from the client. */
  conv?: number;
  kcp?: Partial<Omit<KcpOptions, 'conv' | 'mtu'>>;
  smux?: Partial<Omit<SmuxOptions, 'role'>>;
  framing?: FramingOptions;
}

/**
 * Events: 'stream' (SmuxStream) the peer opened a stream; 'datagram' (Buffer)
 * an out-of-band datagram arrived; 'error' (Error) the peer broke smux; 'close'.
 */
export class ReferenceKcpSession extends EventEmitter {
  readonly framing: ReferenceKcpFraming;
  readonly mtu: number;
  private kcpEngine: Kcp | null = null;
  private smuxSession: SmuxSession | null = null;
  private conv: number | null;
  private closed = false;
  /** Datagrams dropped before the session existed (server: conv not learnt yet) or from another conversation. */
  foreignDrops = 0;

  constructor(
    private readonly link: DatagramLink,
    private readonly options: ReferenceKcpSessionOptions,
  ) {
    super();
    this.mtu = options.mtu && options.mtu > 0 ? options.mtu : REFERENCE_DEFAULT_MTU;
    this.framing = new ReferenceKcpFraming(new ReferenceKcpCipher(options.pass, options.salt), options.framing);
    this.conv = options.role === 'client' ? (options.conv ?? randomInt(1, 0xffffffff)) : (options.conv ?? null);
    if (this.conv !== null) this.start(this.conv);
  }

  /** The KCP engine (null on a server before the client's first datagram). */
  get kcp(): Kcp | null {
    return this.kcpEngine;
  }

  get smux(): SmuxSession | null {
    return this.smuxSession;
  }

  /** Largest OOB payload (the reference reserves 8 more bytes for its UDP-forward channel id). */
  get maxDatagramSize(): number {
    return this.mtu - REFERENCE_KCP_OVERHEAD - OOB_CONV;
  }

  /** Open a stream (client side; a server may open too). */
  openStream(): SmuxStream {
    if (this.smuxSession === null) throw new Error('reference KCP session has no peer yet');
    return this.smuxSession.openStream();
  }

  /** Send one out-of-band datagram (unreliable). */
  sendDatagram(payload: Uint8Array): void {
    if (this.closed || this.conv === null) return;
    if (payload.length > this.maxDatagramSize) throw new RangeError(`datagram of ${payload.length} bytes exceeds ${this.maxDatagramSize}`);
    this.link.send(this.framing.encodeOob(this.conv, payload));
  }

  /**
   * One datagram from the link (already past the proxy's address check).
   * Returns whether it was authentic (a key opened it). Never throws for bad input.
   */
  input(datagram: Buffer): boolean {
    if (this.closed) return false;
    const opened = this.framing.cipher.opened;
    const d = this.framing.decode(datagram);
    const authentic = this.framing.cipher.opened > opened;
    if (d === null) return authentic;
    if (d.kind === 'oob') {
      if (this.conv !== null && d.conv === this.conv) this.emit('datagram', d.payload);
      else this.foreignDrops++;
      return authentic;
    }
    if (this.kcpEngine === null) {
      // Server: the first datagram that opens names the conversation.
      if (d.packet.length < 24) {
        this.foreignDrops++;
        return authentic;
      }
      this.conv = d.packet.readUInt32LE(0);
      this.start(this.conv);
    }
    this.kcpEngine!.input(d.packet);
    return authentic;
  }

  /** The path was renewed or contact came back: resend what is in flight now, not at the backed-off RTO. */
  probeNow(): void {
    this.kcpEngine?.probeNow();
  }

  /** Install a rekeyed secret (client: active at once; server: once the client uses it). */
  installKey(secret: Uint8Array): void {
    this.framing.cipher.install(secret, this.options.role === 'client');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.smuxSession?.close();
    this.kcpEngine?.close();
    this.emit('close');
  }

  private start(conv: number): void {
    const kcpMtu = this.mtu - REFERENCE_KCP_OVERHEAD;
    const user = this.options.kcp ?? {};
    const redundancy = user.redundancy === false ? false : { ...(user.redundancy ?? {}), markCopies: false };
    this.kcpEngine = new Kcp({ sndWnd: 1024, rcvWnd: 1024, ...user, redundancy, conv, mtu: kcpMtu }, (packet) => {
      if (!this.closed) this.framing.encodeKcp(packet, (d) => this.link.send(d));
    });
    this.smuxSession = new SmuxSession(this.kcpEngine, { role: this.options.role, ...this.options.smux });
    this.smuxSession.on('stream', (s: SmuxStream) => this.emit('stream', s));
    this.smuxSession.on('error', (err: Error) => this.emit('error', err));
  }
}
