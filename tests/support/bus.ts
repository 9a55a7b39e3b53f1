import { inject } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import type { ChatEvent, Envelope } from "../../src/core/envelope.js";
import { silentLogger } from "../../src/core/logger.js";
import { SUBJECTS } from "../../src/core/subjects.js";

/** The shared test nats-server's URL (started by the global setup). */
export function natsUrl(): string {
  return inject("natsUrl");
}

/** A bus on the shared test server; close it in `afterEach`/`afterAll`. */
export function testBus(source = "test"): Promise<Bus> {
  return createBus({ url: natsUrl(), source, logger: silentLogger() });
}

/** Publishes `content` as a chat message from a new user in channel "c" of an external platform. */
export function sayAsNewUser(bus: Bus, content: string, platform = "test"): Envelope<ChatEvent> {
  return bus.publish<ChatEvent>(SUBJECTS.eventsMessage, {
    platform,
    channel: "c",
    user: `u${Math.random()}`,
    content,
    timestamp: Date.now(),
  });
}

/** A subject prefix unique to one test, so parallel suites on the shared server never see each other. */
export function uniqueToken(): string {
  return `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** Resolves with the first `count` values pushed, or rejects after `timeoutMs`. */
export function collect<T>(timeoutMs = 5_000) {
  const items: T[] = [];
  const waiters: Array<{ count: number; resolve: (v: T[]) => void }> = [];
  return {
    items,
    push(item: T) {
      items.push(item);
      for (const w of [...waiters]) {
        if (items.length >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(items.slice());
        }
      }
    },
    waitFor(count: number): Promise<T[]> {
      if (items.length >= count) return Promise.resolve(items.slice());
      return new Promise((resolve, reject) => {
        const waiter = { count, resolve };
        waiters.push(waiter);
        setTimeout(() => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error(`timed out waiting for ${count} items; got ${items.length}`));
          }
        }, timeoutMs);
      });
    },
  };
}
