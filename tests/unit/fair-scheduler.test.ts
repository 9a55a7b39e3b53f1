import { describe, expect, it } from "vitest";
import { FairScheduler } from "../../src/core/db/fair-scheduler.js";
import { isRoseyError } from "../../src/core/errors.js";

/** One turn of the event loop: the scheduler gives slots in `setImmediate` callbacks. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A scheduler whose tasks finish when the test says, recording the order they started in. */
function harness(options: ConstructorParameters<typeof FairScheduler>[0]) {
  const scheduler = new FairScheduler(options);
  const started: string[] = [];
  const finish = new Map<string, (value: string) => void>();
  const submit = (key: string, id: string) =>
    scheduler.run(key, () => {
      started.push(id);
      return new Promise<string>((resolve) => finish.set(id, resolve));
    });
  const done = async (id: string) => {
    finish.get(id)!(id);
    await turn();
    await turn();
  };
  return { scheduler, started, submit, done };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("FairScheduler", () => {
  it("runs at most `concurrency` tasks in all and `perKey` of one key, in order within a key", async () => {
    const { scheduler, started, submit, done } = harness({ concurrency: 3, perKey: 2 });
    const results = ["a1", "a2", "a3", "a4"].map((id) => submit("a", id));
    submit("b", "b1");
    submit("b", "b2");
    await turn();
    expect(started).toEqual(["a1", "b1", "a2"]);
    expect(scheduler.running).toBe(3);
    expect(scheduler.waiting()).toBe(3);
    expect(scheduler.waiting("a")).toBe(2);
    await done("a1");
    // a1's slot goes to b (served less recently than a), though a's tasks were sent first.
    expect(started).toEqual(["a1", "b1", "a2", "b2"]);
    await done("b1");
    await done("a2");
    expect(started).toEqual(["a1", "b1", "a2", "b2", "a3", "a4"]);
    await expect(results[0]).resolves.toBe("a1");
  });

  it("gives the slot of a key with a backlog to the keys in turn (round-robin)", async () => {
    const { started, submit, done } = harness({ concurrency: 1 });
    for (let i = 1; i <= 3; i++) submit("a", `a${i}`);
    for (let i = 1; i <= 3; i++) submit("b", `b${i}`);
    for (let i = 1; i <= 3; i++) submit("c", `c${i}`);
    await turn();
    for (const id of ["a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3"]) await done(id);
    expect(started).toEqual(["a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3", "c3"]);
  });

  it("starts a quiet key's task next, ahead of a long backlog", async () => {
    const { started, submit, done } = harness({ concurrency: 1 });
    for (let i = 1; i <= 20; i++) submit("hog", `h${i}`);
    await turn();
    await done("h1");
    await done("h2");
    submit("meek", "m1");
    await done("h3");
    expect(started).toEqual(["h1", "h2", "h3", "m1"]);
  });

  it("lets a task arriving while another blocks the thread in before the backlog's next one", async () => {
    // Synchronous work chained through promise callbacks alone would never let the timer below run
    // until every one of a's tasks was done (better-sqlite3's statements block like this).
    const scheduler = new FairScheduler({ concurrency: 1 });
    const started: string[] = [];
    let quiet: Promise<void> | undefined;
    const block = (id: string) => async () => {
      started.push(id);
      if (id === "a1") setTimeout(() => (quiet = scheduler.run("b", block("b1"))), 0);
      const until = performance.now() + 5;
      while (performance.now() < until);
    };
    await Promise.all(["a1", "a2", "a3", "a4", "a5"].map((id) => scheduler.run("a", block(id))));
    await expect.poll(() => quiet !== undefined).toBe(true);
    await quiet;
    expect(started).toHaveLength(6);
    expect(started.indexOf("b1")).toBeLessThanOrEqual(2);
  });

  it("refuses a key's task with BUSY past `queuePerKey` waiting, and only that key's", async () => {
    const { scheduler, submit, done } = harness({ concurrency: 1, perKey: 1, queuePerKey: 2 });
    submit("a", "a1");
    await turn(); // a1 runs
    submit("a", "a2");
    submit("a", "a3");
    const err = await rejection(submit("a", "a4"));
    expect(isRoseyError(err, "BUSY")).toBe(true);
    expect((err as Error).message).toMatch(/from 'a' as 2 are already waiting \(at most 2 may wait/);
    expect(isRoseyError(err) && err.details).toEqual({ key: "a", waiting: 2, queuePerKey: 2 });
    submit("b", "b1"); // another key is not refused
    expect(scheduler.waiting()).toBe(3);
    await done("a1"); // b1 starts: b was served less recently
    expect(scheduler.waiting("a")).toBe(2);
    await done("b1"); // a2 starts: a has room again
    submit("a", "a5");
    expect(scheduler.waiting("a")).toBe(2);
  });

  it("passes a task's failure to its caller and frees its slot (also for a synchronous throw)", async () => {
    const scheduler = new FairScheduler({ concurrency: 1 });
    await expect(scheduler.run("a", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(
      scheduler.run("a", () => {
        throw new Error("sync");
      }),
    ).rejects.toThrow("sync");
    await expect(scheduler.run("a", async () => 42)).resolves.toBe(42);
    expect(scheduler.running).toBe(0);
  });

  it("close() refuses new and waiting tasks with BUS_CLOSED and resolves once the running ones settle", async () => {
    const { scheduler, submit, done } = harness({ concurrency: 1 });
    const running = submit("a", "a1");
    await turn();
    const waiting = submit("b", "b1");
    const closed = scheduler.close();
    expect(scheduler.close()).toBe(closed);
    expect(isRoseyError(await rejection(waiting), "BUS_CLOSED")).toBe(true);
    expect(isRoseyError(await rejection(submit("c", "c1")), "BUS_CLOSED")).toBe(true);
    let settled = false;
    void closed.then(() => {
      settled = true;
    });
    await turn();
    expect(settled).toBe(false);
    await done("a1");
    await closed;
    await expect(running).resolves.toBe("a1");
    await expect(new FairScheduler().close()).resolves.toBeUndefined();
  });

  it("validates its options eagerly, naming the option, and freezes them", () => {
    for (const [key, value] of [
      ["concurrency", 0],
      ["perKey", 1.5],
      ["queuePerKey", -1],
    ] as const) {
      expect(() => new FairScheduler({ [key]: value })).toThrow(
        `'${key}' must be a positive integer: current value is ${value}`,
      );
    }
    const scheduler = new FairScheduler({ perKey: 4 });
    expect(scheduler.options).toEqual({ concurrency: 1, perKey: 4, queuePerKey: 32, name: "task" });
    expect(Object.isFrozen(scheduler.options)).toBe(true);
  });
});
