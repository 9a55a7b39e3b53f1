/**
 * Puts an item back into a retry list kept in the order the items were first queued (`seq`), so what is sent
 * again goes out in the order it was asked for.
 */
export function insertInOrder<T extends { seq: number }>(list: T[], item: T): void {
  const at = list.findIndex((other) => other.seq > item.seq);
  if (at < 0) list.push(item);
  else list.splice(at, 0, item);
}

/**
 * Waiting items from many senders (`plugin:<name>`, `core`…), served one sender at a time: the sender that
 * has waited longest since it was last served goes next, so one plugin's burst cannot starve the others.
 */
export class FairQueue<T> {
  readonly #maxPerSource: number;
  /** What an item is, for the refusal: "message", "playlist addition". */
  readonly #noun: string;
  readonly #queues = new Map<string, T[]>();
  /** When each waiting source was last served (a tick); the longest-waiting source goes next. */
  readonly #lastServed = new Map<string, number>();
  #tick = 0;
  #size = 0;

  constructor(maxPerSource: number, noun: string) {
    this.#maxPerSource = maxPerSource;
    this.#noun = noun;
  }

  get size(): number {
    return this.#size;
  }

  /** Throws a RangeError naming the source when it already has `maxPerSource` items waiting. */
  push(source: string, item: T): void {
    let queue = this.#queues.get(source);
    if (!queue) {
      queue = [];
      this.#queues.set(source, queue);
      // A source that had nothing waiting goes before every source that was served meanwhile.
      if (!this.#lastServed.has(source)) this.#lastServed.set(source, -1);
    }
    if (queue.length >= this.#maxPerSource) {
      throw new RangeError(
        `Cannot queue a ${this.#noun} from '${source}' as at most ${this.#maxPerSource} may wait: current value is ${queue.length}`,
      );
    }
    queue.push(item);
    this.#size += 1;
  }

  /** What `shift` would return, left in place. */
  peek(): T | undefined {
    const best = this.#nextSource();
    return best === undefined ? undefined : this.#queues.get(best)![0];
  }

  shift(): T | undefined {
    const best = this.#nextSource();
    if (best === undefined) return undefined;
    const queue = this.#queues.get(best)!;
    const item = queue.shift()!;
    this.#size -= 1;
    if (queue.length === 0) {
      this.#queues.delete(best);
      this.#lastServed.delete(best);
    } else this.#lastServed.set(best, this.#tick++);
    return item;
  }

  #nextSource(): string | undefined {
    let best: string | undefined;
    let bestTick = Number.POSITIVE_INFINITY;
    for (const [source, queue] of this.#queues) {
      if (queue.length === 0) continue;
      const tick = this.#lastServed.get(source) ?? -1;
      if (tick < bestTick) {
        best = source;
        bestTick = tick;
      }
    }
    return best;
  }

  /** Empties the queue, returning what waited. */
  drain(): T[] {
    const all: T[] = [];
    for (const queue of this.#queues.values()) all.push(...queue.splice(0));
    this.#queues.clear();
    this.#lastServed.clear();
    this.#size = 0;
    return all;
  }
}
