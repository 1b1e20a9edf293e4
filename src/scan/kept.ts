// What a scan thread keeps open between tasks, per scan: at most MAX_KEPT scans (a
// pool may be reused across many scans), the oldest closed first.

/** Scans whose open images a thread keeps at once. */
export const MAX_KEPT = 4;

/** Keep `value` under `key` in an insertion-ordered map, closing the oldest entries past MAX_KEPT. */
export function keep<T>(map: Map<string, T>, key: string, value: T, close: (v: T) => void): T {
  map.set(key, value);
  while (map.size > MAX_KEPT) {
    const [oldKey, old] = map.entries().next().value as [string, T];
    map.delete(oldKey);
    close(old);
  }
  return value;
}
