/** Cuts a stream of text chunks into whole lines, keeping a partial last line for later. */
export class LineSplitter {
  private rest = '';

  /** Adds a chunk; returns the lines it completed, without their line breaks. */
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split(/\r?\n/);
    this.rest = lines.pop()!;
    return lines;
  }

  /** Returns what is left once the stream has ended. */
  flush(): string[] {
    const rest = this.rest;
    this.rest = '';
    return rest === '' ? [] : [rest];
  }
}
