import { describe, expect, it } from "vitest";
import { connectorUser, databaseUser } from "../../src/core/nats/component-users.js";
import { isReplySubject, patternsOverlap } from "../../src/core/subjects.js";

describe("the NATS users of Rosey's parts", () => {
  // allow_responses lets a user answer any message delivered to it, its own too: a user that may publish
  // where it listens could send itself a message whose reply subject is any subject, and "answer" it there.
  it.each([
    ["database", databaseUser()],
    ["connector", connectorUser("cytube")],
  ])("the %s user may publish nowhere it may subscribe", (_part, user) => {
    const overlaps = user.publish.flatMap((p) =>
      user.subscribe.filter((s) => patternsOverlap(p, s)).map((s) => [p, s]),
    );
    expect(overlaps).toEqual([]);
  });

  it("each listens for answers under an inbox prefix of its own, which no other part may read", () => {
    const users = [databaseUser(), connectorUser("cytube"), connectorUser("discord")];
    for (const user of users) {
      expect(user.subscribe).toContain(`${user.inboxPrefix}.>`);
      for (const other of users.filter((u) => u !== user))
        expect(other.subscribe.filter((s) => patternsOverlap(s, `${user.inboxPrefix}.x`))).toEqual([]);
    }
  });
});

describe("isReplySubject", () => {
  it("takes inboxes only: a reply subject elsewhere would have the core publish its answer there", () => {
    for (const ok of ["_INBOX.abc.1", "_INBOX_rosey-db.xyz.2", "_INBOX.X9"])
      expect(isReplySubject(ok), ok).toBe(true);
    for (const bad of [
      "rosey.admin.plugins.resume",
      "rosey.security.violation",
      "_INBOX",
      "_INBOXES.a",
      "_INBOX.a b",
      "$JS.ACK.x",
    ])
      expect(isReplySubject(bad), bad).toBe(false);
  });
});
