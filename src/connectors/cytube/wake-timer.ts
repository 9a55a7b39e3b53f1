/**
 * One timer for a queue that only ever needs its next wake-up: asking for a later time than the one already
 * set keeps the earlier one, asking for an earlier time moves it. Unref'd, so a waiting queue never keeps the
 * process alive.
 */
export class WakeTimer {
  readonly #fire: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #due = 0;

  constructor(fire: () => void) {
    this.#fire = fire;
  }

  /** Fires in `waitMs` at the latest. */
  within(waitMs: number): void {
    const due = Date.now() + waitMs;
    if (this.#timer !== undefined) {
      if (this.#due <= due) return;
      clearTimeout(this.#timer);
    }
    this.#due = due;
    this.#timer = setTimeout(this.#run, waitMs);
    this.#timer.unref?.();
  }

  clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly #run = (): void => {
    this.#timer = undefined;
    this.#fire();
  };
}
