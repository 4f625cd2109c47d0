/**
 * Results computed from a repository's whole history, kept for as long as its HEAD does not move (the
 * extension asks again on every change of the index; the history under HEAD is the same each time).
 * A few repositories at once; the oldest entry goes first. Concurrent askers share one computation.
 */
export class HeadCache<T> {
  private readonly entries = new Map<string, Promise<T>>();

  constructor(private readonly size = 4) {}

  get(root: string, head: string | null, extra: string, make: () => Promise<T>): Promise<T> {
    const key = `${root}\u0000${head ?? ''}\u0000${extra}`;
    let p = this.entries.get(key);
    if (!p) {
      p = make();
      this.entries.set(key, p);
      p.catch(() => this.entries.delete(key));
      while (this.entries.size > this.size) this.entries.delete(this.entries.keys().next().value!);
    }
    return p;
  }

  clear(): void {
    this.entries.clear();
  }
}
