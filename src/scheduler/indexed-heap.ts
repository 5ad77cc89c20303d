/**
 * A binary min-heap whose items remember their own position, so removing or re-keying any item
 * is O(log n) instead of a scan. The scheduler keeps one per priority class (flows by start tag),
 * one per model (users by backlog) and one for deadlines; a 10,000-request queue never gets scanned.
 */
export class IndexedHeap<T> {
  private readonly items: T[] = [];

  /**
   * @param less strict order: true when `a` must come out before `b`.
   * @param getIndex/setIndex the item's slot for its position (-1 when not in this heap).
   */
  constructor(
    private readonly less: (a: T, b: T) => boolean,
    private readonly getIndex: (item: T) => number,
    private readonly setIndex: (item: T, index: number) => void,
  ) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  has(item: T): boolean {
    const index = this.getIndex(item);
    return index >= 0 && this.items[index] === item;
  }

  push(item: T): void {
    if (this.has(item)) {
      this.update(item);
      return;
    }
    this.items.push(item);
    this.setIndex(item, this.items.length - 1);
    this.up(this.items.length - 1);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  remove(item: T): boolean {
    if (!this.has(item)) return false;
    const index = this.getIndex(item);
    const last = this.items.pop()!;
    this.setIndex(item, -1);
    if (last !== item) {
      this.items[index] = last;
      this.setIndex(last, index);
      this.update(last);
    }
    return true;
  }

  /** Restores order after the item's key changed. */
  update(item: T): void {
    if (!this.has(item)) return;
    const index = this.getIndex(item);
    this.up(index);
    this.down(this.getIndex(item));
  }

  /** Items in no particular order (for snapshots and shutdown). */
  values(): readonly T[] {
    return this.items;
  }

  private up(start: number): void {
    let index = start;
    const item = this.items[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = this.items[parentIndex]!;
      if (!this.less(item, parent)) break;
      this.items[index] = parent;
      this.setIndex(parent, index);
      index = parentIndex;
    }
    this.items[index] = item;
    this.setIndex(item, index);
  }

  private down(start: number): void {
    let index = start;
    const item = this.items[index]!;
    const length = this.items.length;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && this.less(this.items[right]!, this.items[left]!) ? right : left;
      if (!this.less(this.items[child]!, item)) break;
      this.items[index] = this.items[child]!;
      this.setIndex(this.items[index]!, index);
      index = child;
    }
    this.items[index] = item;
    this.setIndex(item, index);
  }
}
