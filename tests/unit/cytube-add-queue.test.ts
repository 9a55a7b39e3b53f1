import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type Addition,
  type AddOutcome,
  AddQueue,
  QUEUE_LIMIT_GUEST,
  QUEUE_LIMIT_MODERATOR,
  queueLimit,
  TOO_QUICKLY,
} from "../../src/connectors/cytube/add-queue.js";
import { ServerRateLimiter } from "../fixtures/cytube-emulator/limiter.js";

describe("cytube playlist add queue", () => {
  let sent: Array<{ at: number; id: string }>;
  let settled: Array<{ id: string; outcome: AddOutcome; correlationId: string | undefined }>;
  let q: AddQueue;
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    sent = [];
    settled = [];
    q = new AddQueue({
      emit: (payload) => {
        sent.push({ at: Date.now(), id: payload.id });
        return true;
      },
      onSettled: (a, outcome) => settled.push({ id: a.payload.id, outcome, correlationId: a.correlationId }),
      marginMs: 10,
      answerTimeoutMs: 5_000,
      limits: QUEUE_LIMIT_MODERATOR,
    });
  });
  afterEach(() => {
    q.clear();
    vi.useRealTimers();
  });
  const add = (source: string, id: string): Addition => ({
    payload: { id, type: "yt", pos: "end", temp: true },
    source,
    correlationId: `c-${id}`,
  });

  it("uses the server's limits for the bot's rank", () => {
    expect(queueLimit(1)).toEqual(QUEUE_LIMIT_GUEST);
    expect(queueLimit(2)).toEqual(QUEUE_LIMIT_MODERATOR);
    expect(queueLimit(255)).toEqual({ burst: 10, sustained: 2, cooldown: 5 });
  });

  it("sends burst-1 at once, then one per 1000/sustained + margin ms: a server limiter refuses none", async () => {
    const server = new ServerRateLimiter();
    let refused = 0;
    const paced = new AddQueue({
      emit: () => {
        if (server.throttle(QUEUE_LIMIT_MODERATOR, Date.now())) refused += 1;
        sent.push({ at: Date.now(), id: "" });
        return true;
      },
      onSettled: () => {},
      marginMs: 10,
      limits: QUEUE_LIMIT_MODERATOR,
    });
    paced.resume();
    for (let i = 0; i < 20; i++) paced.enqueue(add("plugin:a", `v${i}`));
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(9);
    await vi.advanceTimersByTimeAsync(510 * 11);
    expect(sent).toHaveLength(20);
    expect(refused).toBe(0);
    for (let i = 9; i < 20; i++) expect(sent[i]!.at - sent[i - 1]!.at).toBeGreaterThanOrEqual(510);
    paced.clear();
  });

  it("shares fairly between sources, and refuses past the per-source cap naming the source", async () => {
    q.setLimits({ burst: 1, sustained: 10, cooldown: 100 });
    q.resume();
    for (let i = 0; i < 5; i++) q.enqueue(add("plugin:noisy", `n${i}`));
    await vi.advanceTimersByTimeAsync(0);
    q.enqueue(add("plugin:quiet", "q0"));
    await vi.advanceTimersByTimeAsync(110 * 3);
    expect(sent.map((s) => s.id).slice(0, 4)).toEqual(["n0", "q0", "n1", "n2"]);
    const capped = new AddQueue({ emit: () => true, onSettled: () => {}, maxPerSource: 2 });
    capped.enqueue(add("plugin:x", "1"));
    capped.enqueue(add("plugin:x", "2"));
    expect(() => capped.enqueue(add("plugin:x", "3"))).toThrow(
      /playlist addition from 'plugin:x' as at most 2 may wait/,
    );
    capped.clear();
  });

  it("settles by media, whatever order the server answers in", async () => {
    q.resume();
    q.enqueue(add("plugin:a", "a"));
    q.enqueue(add("plugin:a", "b"));
    await vi.advanceTimersByTimeAsync(0);
    expect(q.inflight).toBe(2);
    q.onQueued({ id: "b", type: "yt" }, 7);
    q.onQueued({ id: "a", type: "vi" }, 8);
    expect(q.onQueueFail("This item is already on the playlist", "a")).toEqual({
      addition: expect.objectContaining({ source: "plugin:a", correlationId: "c-a" }),
      retrying: false,
    });
    expect(settled).toEqual([
      { id: "b", outcome: { status: "added", uid: 7 }, correlationId: "c-b" },
      {
        id: "a",
        outcome: { status: "failed", reason: "This item is already on the playlist" },
        correlationId: "c-a",
      },
    ]);
    expect(q.onQueueFail("Unknown media type", "zz")).toBeUndefined();
  });

  it("too quick: sent again first, once the copy of the limiter allows; given up after maxAttempts", async () => {
    q.resume();
    q.enqueue(add("plugin:a", "a"));
    q.enqueue(add("plugin:a", "b"));
    await vi.advanceTimersByTimeAsync(0);
    expect(q.onQueueFail(TOO_QUICKLY, "a")).toMatchObject({ retrying: true });
    q.enqueue(add("plugin:a", "c"));
    await vi.advanceTimersByTimeAsync(0);
    expect(sent.map((s) => s.id)).toEqual(["a", "b"]);
    await vi.advanceTimersByTimeAsync(510);
    expect(sent.map((s) => s.id)).toEqual(["a", "b", "a"]);
    await vi.advanceTimersByTimeAsync(510);
    expect(sent.map((s) => s.id)).toEqual(["a", "b", "a", "c"]);

    const strict = new AddQueue({
      emit: () => true,
      onSettled: (a, o) => settled.push({ id: a.payload.id, outcome: o, correlationId: undefined }),
      maxAttempts: 2,
      marginMs: 0,
    });
    strict.resume();
    strict.enqueue(add("plugin:a", "x"));
    await vi.advanceTimersByTimeAsync(0);
    strict.onQueueFail(TOO_QUICKLY, "x");
    await vi.advanceTimersByTimeAsync(2_000);
    expect(strict.onQueueFail(TOO_QUICKLY, "x")).toMatchObject({ retrying: false });
    expect(settled.at(-1)).toMatchObject({
      id: "x",
      outcome: { status: "failed", reason: expect.stringMatching(/gave up after 2 attempts/) },
    });
    strict.clear();
  });

  it("a disconnect sends unanswered additions again; 'already on the playlist' then means the first send landed", async () => {
    q.resume();
    q.enqueue(add("plugin:a", "a"));
    q.enqueue(add("plugin:a", "b"));
    await vi.advanceTimersByTimeAsync(0);
    q.pause();
    expect(q.inflight).toBe(0);
    expect(q.pending).toBe(2);
    q.enqueue(add("plugin:a", "c"));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sent).toHaveLength(2);
    q.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(sent.map((s) => s.id)).toEqual(["a", "b", "a", "b", "c"]);
    q.onQueueFail("This item is already on the playlist", "a");
    expect(settled[0]).toMatchObject({ id: "a", outcome: { status: "added" } });
  });

  it("unanswered past the answer timeout: unconfirmed; clear reports what waited as failed", async () => {
    q.resume();
    q.enqueue(add("plugin:a", "a"));
    await vi.advanceTimersByTimeAsync(5_100);
    expect(settled).toEqual([{ id: "a", outcome: { status: "unconfirmed" }, correlationId: "c-a" }]);
    expect(q.inflight).toBe(0);
    q.pause();
    q.enqueue(add("plugin:a", "b"));
    q.clear();
    expect(settled.at(-1)).toMatchObject({
      id: "b",
      outcome: { status: "failed", reason: "the connector stopped" },
    });
    expect(vi.getTimerCount()).toBe(0);
  });
});
