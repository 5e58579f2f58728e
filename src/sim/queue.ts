/**
 * The simulator's event queue: a binary min-heap ordered by (virtual time, insertion counter),
 * so events at the same instant run in the order they were scheduled and a run is a pure
 * function of its seed.
 */

export interface Scheduled<E> {
  timeMs: number;
  order: number;
  ev: E;
}

export class EventQueue<E> {
  private heap: Scheduled<E>[] = [];
  private counter = 0;

  get size(): number {
    return this.heap.length;
  }

  push(timeMs: number, ev: E): void {
    if (!Number.isFinite(timeMs)) throw new RangeError(`event time must be finite, got ${timeMs}`);
    const item: Scheduled<E> = { timeMs, order: this.counter++, ev };
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(item, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = item;
  }

  peekTime(): number | undefined {
    return this.heap[0]?.timeMs;
  }

  pop(): Scheduled<E> | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && less(h[r]!, h[l]!) ? r : l;
        if (!less(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

function less<E>(a: Scheduled<E>, b: Scheduled<E>): boolean {
  return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.order < b.order);
}
