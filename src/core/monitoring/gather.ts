import { createBus } from "../bus.js";
import { silentLogger } from "../logger.js";

/**
 * One request that every service answers (`rosey.monitoring.*`, no queue group), and every answer that
 * arrives within `windowMs`: with several answerers there is no "first answer" to wait for. The tools'
 * own short-lived connection is opened and closed here; it never reconnects.
 */
export async function gatherAnswers(
  url: string,
  subject: string,
  data: unknown,
  windowMs: number,
  source: string,
): Promise<unknown[]> {
  const bus = await createBus({
    url,
    source,
    logger: silentLogger(),
    connectTimeoutMs: windowMs,
    maxReconnectAttempts: 0,
  });
  try {
    const answers: unknown[] = [];
    const inbox = bus.createInbox();
    bus.subscribe(inbox, (m) => void answers.push(m.envelope.data));
    await bus.flush();
    bus.publish(subject, data, { replyTo: inbox });
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    return answers;
  } finally {
    await bus.close();
  }
}

/** Services first by name, then by pid, so output is stable from run to run. */
export function byService<T extends { service: string; pid: number }>(a: T, b: T): number {
  return a.service.localeCompare(b.service) || a.pid - b.pid;
}
