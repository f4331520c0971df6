import { describe, expect, it } from 'vitest';
import { announcesBody } from './proxy-backend.js';

describe('the benchmark backend', () => {
  it('answers request heads without a body, and refuses those that announce one', () => {
    expect(announcesBody('GET / HTTP/1.1\r\nhost: plain.bench\r\n')).toBe(false);
    expect(announcesBody('GET / HTTP/1.1\r\nhost: a\r\nContent-Length: 0\r\n')).toBe(false);
    expect(announcesBody('POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 12\r\n')).toBe(true);
    expect(announcesBody('POST / HTTP/1.1\r\nhost: a\r\nContent-Length: 05\r\n')).toBe(true);
    expect(announcesBody('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nhost: a\r\n')).toBe(true);
  });
});
