// A Map that holds part of a layout's types and fetches the rest on demand.
//
// A scan asks a kernel layout for a few dozen of its ~10 000 types (task_struct and
// what its signature's fields, edges and carving reach), yet building the whole layout
// from BTF takes 0.7–2.5 s. The layout cache (./layout-cache.ts) keeps just the types a
// scan asked for; a DemandMap serves them, and on a question it cannot answer from them
// it builds the full map once (`full`) and answers from that, so a layout built from the
// cache answers every question as the full layout would, only slower past the subset.
// It also records every key it was asked for, present or not, which is how the cache
// learns the subset.

export class DemandMap<K, V> extends Map<K, V> {
  private readonly known: Map<K, V>;
  private readonly absent: Set<K>;
  private fullMap: Map<K, V> | undefined;
  /** Keys asked for by get/has, whether present or not. */
  readonly queried = new Set<K>();

  /**
   * `known`: the entries at hand; `absent`: keys known not to be in the full map;
   * `full`: builds the full map (undefined when `known` is the full map).
   */
  constructor(
    known: Map<K, V>,
    absent: Iterable<K>,
    private readonly full: (() => Map<K, V>) | undefined,
  ) {
    super();
    this.known = known;
    this.absent = new Set(absent);
    if (full === undefined) this.fullMap = known;
  }

  /** Did a question beyond the subset make this map build the full one? */
  get loadedFull(): boolean {
    return this.full !== undefined && this.fullMap !== undefined;
  }

  private all(): Map<K, V> {
    this.fullMap ??= this.full!();
    return this.fullMap;
  }

  override get(key: K): V | undefined {
    this.queried.add(key);
    const v = this.known.get(key);
    if (v !== undefined || this.known.has(key)) return v;
    if (this.fullMap === this.known || this.absent.has(key)) return undefined;
    const found = this.all().get(key);
    if (found !== undefined) this.known.set(key, found);
    else this.absent.add(key);
    return found;
  }

  override has(key: K): boolean {
    return this.get(key) !== undefined || this.known.has(key);
  }

  /** The value for `key` if this map already holds it (nothing is built or recorded). */
  peek(key: K): V | undefined {
    return this.known.get(key) ?? this.fullMap?.get(key);
  }

  /** Keys known to be absent (from the cache, or asked for and not found). */
  absentKeys(): Set<K> {
    const out = new Set(this.absent);
    for (const k of this.queried) if (this.peek(k) === undefined && !this.known.has(k)) out.add(k);
    return out;
  }

  /** Entries held without building the full map (the whole map when it was given whole). */
  heldEntries(): Map<K, V> {
    return this.known;
  }

  override set(key: K, value: V): this {
    // Layouts are not edited after they are built; keep both views in step if one is.
    this.known.set(key, value);
    this.absent.delete(key);
    if (this.fullMap !== undefined && this.fullMap !== this.known) this.fullMap.set(key, value);
    return this;
  }

  override delete(key: K): boolean {
    const a = this.known.delete(key);
    const b = this.fullMap !== undefined && this.fullMap !== this.known ? this.fullMap.delete(key) : false;
    if (this.full !== undefined) this.absent.add(key);
    return a || b;
  }

  override clear(): void {
    this.all().clear();
    this.known.clear();
  }

  // Iteration needs every entry: build the full map.
  override get size(): number {
    return this.all().size;
  }

  override keys(): MapIterator<K> {
    return this.all().keys();
  }

  override values(): MapIterator<V> {
    return this.all().values();
  }

  override entries(): MapIterator<[K, V]> {
    return this.all().entries();
  }

  override [Symbol.iterator](): MapIterator<[K, V]> {
    return this.all()[Symbol.iterator]();
  }

  override forEach(fn: (value: V, key: K, map: Map<K, V>) => void, thisArg?: unknown): void {
    this.all().forEach((v, k) => fn.call(thisArg, v, k, this));
  }
}
