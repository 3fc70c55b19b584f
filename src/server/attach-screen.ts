/**
 * A terminal session's screen as a terminal emulator sees it, kept by an
 * attachable tsshd for `tsshd --view` and for the title `tsshd --list`
 * shows: every byte of the pty's output also goes to an `@xterm/headless`
 * terminal of the pty's size (no scrollback). The module is loaded only
 * when an attachable terminal session starts; where it is not installed,
 * sessions run as usual and `--view` says why it has nothing to show.
 */

interface HeadlessTerminal {
  readonly rows: number;
  readonly buffer: { active: { viewportY: number; getLine(y: number): { translateToString(trim: boolean): string } | undefined } };
  write(data: Uint8Array | string, callback?: () => void): void;
  resize(cols: number, rows: number): void;
  onTitleChange(listener: (title: string) => void): { dispose(): void };
  dispose(): void;
}

type TerminalCtor = new (options: { cols: number; rows: number; scrollback: number; allowProposedApi: boolean }) => HeadlessTerminal;

let loading: Promise<TerminalCtor | Error> | undefined;

/** Load @xterm/headless once; an Error (not a throw) when it is missing. */
function loadTerminal(): Promise<TerminalCtor | Error> {
  loading ??= import('@xterm/headless').then(
    (m) => ((m as { default?: { Terminal: TerminalCtor }; Terminal?: TerminalCtor }).default?.Terminal ?? (m as { Terminal: TerminalCtor }).Terminal),
    (err: Error) => new Error(`@xterm/headless cannot be loaded (${err.message.split('\n')[0]}); install it next to tsshd to use --view`),
  );
  return loading;
}

/** One session's emulated screen; see the file comment. */
export class SessionScreen {
  private term: HeadlessTerminal | null = null;
  private failure: string | null = null;
  private early: Buffer[] = [];
  private currentTitle = '';
  private closed = false;

  constructor(private cols: number, private rows: number) {
    void loadTerminal().then((ctor) => {
      if (this.closed) return;
      if (ctor instanceof Error) {
        this.failure = ctor.message;
        this.early = [];
        return;
      }
      const term = new ctor({ cols: this.cols, rows: this.rows, scrollback: 0, allowProposedApi: true });
      term.onTitleChange((title) => (this.currentTitle = title.slice(0, 200)));
      for (const chunk of this.early) term.write(chunk);
      this.early = [];
      this.term = term;
    });
  }

  /** The title the program set (OSC 0/2), or ''. */
  get title(): string {
    return this.currentTitle;
  }

  write(chunk: Buffer): void {
    if (this.term !== null) this.term.write(chunk);
    else if (this.failure === null && !this.closed) this.early.push(chunk);
  }

  resize(cols: number, rows: number): void {
    this.cols = cols;
    this.rows = rows;
    this.term?.resize(cols, rows);
  }

  /** The visible rows as text, trailing spaces trimmed, once everything written so far is parsed; throws when there is no emulator. */
  async snapshot(): Promise<string[]> {
    if (this.failure === null && this.term === null) await loadTerminal();
    const term = this.term;
    if (term === null) throw new Error(this.failure ?? 'the session has ended');
    await new Promise<void>((resolve) => term.write('', resolve));
    const buffer = term.buffer.active;
    const lines: string[] = [];
    for (let y = 0; y < term.rows; y++) lines.push(buffer.getLine(buffer.viewportY + y)?.translateToString(true) ?? '');
    return lines;
  }

  close(): void {
    this.closed = true;
    this.early = [];
    this.term?.dispose();
    this.term = null;
  }
}
