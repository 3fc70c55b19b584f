/** A reference-family wire input that cannot be accepted; the message is one line naming the problem. */
export class ReferenceWireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReferenceWireError';
  }
}
