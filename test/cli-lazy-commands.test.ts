// The CLI loads only the subcommand it runs (src/cli/commands/index.ts): a scan does not
// import training, fuzzing, synthesis or dataset code. Help, --version and unknown
// names still behave as with every command loaded.
import { describe, expect, it, vi } from 'vitest';
import { commandLoaders, loadCommands } from '../src/cli/commands/index.js';
import { main } from '../src/cli/main.js';

describe('lazy subcommands', () => {
  it('loads one command module for a known name and all of them otherwise', async () => {
    expect(await loadCommands('scan')).toHaveLength(1);
    expect(await loadCommands(undefined)).toHaveLength(Object.keys(commandLoaders).length);
    expect(await loadCommands('no-such-command')).toHaveLength(Object.keys(commandLoaders).length);
    // A name that is an Object.prototype member is not a command.
    expect(await loadCommands('toString')).toHaveLength(Object.keys(commandLoaders).length);
  });

  it('still lists every command in --help and rejects an unknown one', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (out.push(String(s)), true));
    try {
      expect(await main(['--help'])).toBe(0);
      for (const name of Object.keys(commandLoaders)) expect(out.join('')).toContain(`${name}`);
      out.length = 0;
      expect(await main(['scna'])).toBe(1);
      expect(out.join('')).toMatch(/unknown command 'scna'/);
      out.length = 0;
      expect(await main(['--version'])).toBe(0);
      expect(out.join('')).toMatch(/^\d+\.\d+\.\d+/);
    } finally {
      spy.mockRestore();
      err.mockRestore();
    }
  });
});
