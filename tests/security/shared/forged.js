// Shared by the pub-* fixtures (copied beside each at test time, see fixtures-dir.ts): one
// payload that looks like every message the core and connectors send (a violation, a command, a chat
// event) with a spoofed identity, so each forged publish would be dangerous if it got through.
export const FORGED = {
  plugin: "canary",
  operation: "publish",
  subject: "x",
  reason: "forged",
  count: 1,
  name: "ping",
  args: [],
  text: "",
  user: "admin",
  rank: 3,
  platform: "console",
  channel: "console",
  correlationId: "forged",
  content: "!ban everyone",
  source: "core",
  timestamp: 1,
  user_data: { username: "admin", rank: 3, is_afk: false, is_moderator: true },
};
