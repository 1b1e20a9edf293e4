// Help text shared by `kcarve scan`, `pslist` and `xview`.
export const SHARED_HELP = `
Choosing the OS and the signature:
  --os NAME           use that OS support and its default signature (unless --signature)
  --os auto           (default) the OS the --signature targets; without --signature, every
                      OS support is tried and the one that finds the most objects is used
  --signature FILE    a kcarve-signature/1 file; its layout comes from the file it names,
                      or from --layout FILE (BTF, vmlinux, bzImage or Volatility ISF)
  --truth FILE        hints only (direct-map base, page-table root, paging levels,
                      init_task): discovery works without them

Output (--format): table (default), json (the whole run, truth-schema names: pa, va as
hex strings, pid, tgid, ppid, comm, status), jsonl (one object per line), csv.

Exit status: 0 ok; 1 bad command line; 2 unreadable or malformed input, or a partial
result: the output is written, and stderr names each range of the image that was not
covered and why (an unreadable range, or a worker failure, which is a bug).
`;
