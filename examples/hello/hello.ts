/**
 * The smallest tsshd service: greet, ask for a name with line editing
 * (arrows, backspace, Home/End: Node's readline does them on the raw
 * terminal), answer, exit. Run it where tssh would run tsshd:
 * `tssh --udp -o TsshdPath=/path/to/examples/hello/hello host`.
 */
import { createInterface } from 'node:readline';
import { runMain, type Handler, type Middleware } from 'tsshd';

/** Middleware: end a session that is still open after `seconds`, with a word to the client. */
function timeLimit(seconds: number): Middleware {
  return (next) => async (session) => {
    const timer = setTimeout(() => {
      session.stderr.write(`\r\nhello: time is up (${seconds} s)\r\n`);
      session.exit(1);
    }, seconds * 1000);
    try {
      await next(session);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** The service itself. A session is a Node stream: read the client's keys, write to its screen. */
const hello: Handler = async (session) => {
  // In a pty the client's terminal is raw: a new line is CR LF, and echo is ours to do (readline does it).
  const newline = session.pty ? '\r\n' : '\n';
  session.write(`Hello from a tsshd service (you are ${session.remoteAddress}).${newline}`);
  const lines = createInterface({ input: session, output: session, terminal: session.pty !== undefined });
  const name = await new Promise<string | null>((resolve) => {
    lines.question("What's your name? ", resolve);
    lines.once('close', () => resolve(null)); // Ctrl-D or the end of input
    lines.once('SIGINT', () => resolve(null)); // Ctrl-C
    session.signal.addEventListener('abort', () => resolve(null)); // the client went away
    session.once('finish', () => resolve(null)); // the session was ended (the time limit)
  });
  lines.close();
  if (name === null) {
    session.write(`${newline}Goodbye, stranger.${newline}`);
    session.exit(130);
    return;
  }
  session.write(`Nice to meet you, ${name.trim() || 'nobody'}!${newline}`);
  // Returning ends the session with status 0.
};

process.exit(await runMain({ handler: hello, middleware: [timeLimit(300)] }));
