// What a CLI run (main([...]) in this process) writes to stdout and stderr, fresh for each
// test of the file that calls captureStdio() at its top level.
import { afterEach, beforeEach, vi } from 'vitest';

export interface CapturedStdio {
  stdout: string;
  stderr: string;
}

export function captureStdio(): CapturedStdio {
  const io: CapturedStdio = { stdout: '', stderr: '' };
  beforeEach(() => {
    io.stdout = '';
    io.stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((io.stdout += String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((io.stderr += String(chunk)), true));
  });
  afterEach(() => vi.restoreAllMocks());
  return io;
}
