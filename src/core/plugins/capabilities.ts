/**
 * The capability catalogue: the one place that says what each capability lets a plugin do on the bus.
 * `docs/permissions.md` is rendered from this data (`npm run docs:permissions`); a test fails when stale.
 *
 * Patterns use NATS wildcards. `publish` and `request` patterns are matched against concrete subjects;
 * `subscribe` patterns must cover (token-wise) whatever pattern the plugin asks to subscribe to.
 */

export const GROUPS = ["basic", "moderator", "admin"] as const;
export type Group = (typeof GROUPS)[number];

export interface Capability {
  readonly group: Group;
  readonly description: string;
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  readonly request: readonly string[];
  /** Lowest platform rank the bot account needs for the action (CyTube: 0 guest … 3 admin). */
  readonly rank: number;
}

const cap = (
  group: Group,
  description: string,
  ops: { publish?: string[]; subscribe?: string[]; request?: string[] },
  rank = 0,
): Capability =>
  Object.freeze({
    group,
    description,
    publish: Object.freeze(ops.publish ?? []),
    subscribe: Object.freeze(ops.subscribe ?? []),
    request: Object.freeze(ops.request ?? []),
    rank,
  });

export const CAPABILITIES = Object.freeze({
  "events.read": cap(
    "basic",
    "Receive normalized platform events (chat messages, joins, media changes…; not PMs: `chat.pm`)",
    {
      subscribe: ["rosey.events.>"],
    },
  ),
  "chat.send": cap("basic", "Send chat messages to a channel", { publish: ["rosey.actions.chat.send"] }),
  "chat.pm": cap("basic", "Send and receive private messages", {
    publish: ["rosey.actions.chat.pm"],
    subscribe: ["rosey.events.pm"],
  }),
  "users.list": cap("basic", "Read the channel's user list and user join/leave events", {
    request: ["rosey.api.users.list"],
    subscribe: ["rosey.events.user.>"],
  }),
  "channel.read": cap("basic", "Read channel state: options, permissions, current media", {
    request: ["rosey.api.channel.get"],
  }),
  "playlist.read": cap("basic", "Read the playlist and media/playlist events", {
    request: ["rosey.api.playlist.get"],
    subscribe: ["rosey.events.media.>", "rosey.events.playlist.>"],
  }),
  "commands.list": cap("basic", "List the commands the router knows (for help plugins)", {
    request: ["rosey.api.commands.list"],
  }),
  storage: cap("basic", "Store records in the plugin's own collections (never another plugin's)", {
    request: ["rosey.db.kv.>"],
  }),
  "chat.delete": cap(
    "moderator",
    "Delete chat messages and clear the chat",
    { publish: ["rosey.actions.chat.delete", "rosey.actions.chat.clear"] },
    2,
  ),
  "users.kick": cap("moderator", "Kick users from the channel", { publish: ["rosey.actions.users.kick"] }, 2),
  "users.mute": cap("moderator", "Mute and unmute users", { publish: ["rosey.actions.users.mute"] }, 2),
  "users.ban": cap("moderator", "Ban users from the channel", { publish: ["rosey.actions.users.ban"] }, 3),
  "playlist.queue": cap(
    "moderator",
    "Add media to the playlist (queue next or at the end, temporary or not)",
    { publish: ["rosey.actions.playlist.queue", "rosey.actions.playlist.temp"] },
    1,
  ),
  "playlist.delete": cap(
    "moderator",
    "Remove playlist items",
    { publish: ["rosey.actions.playlist.delete"] },
    2,
  ),
  "playlist.move": cap(
    "moderator",
    "Reorder the playlist, jump to an item, skip to the next",
    {
      publish: ["rosey.actions.playlist.move", "rosey.actions.playlist.jump", "rosey.actions.playlist.next"],
    },
    2,
  ),
  "poll.manage": cap(
    "moderator",
    "Open and close polls",
    { publish: ["rosey.actions.poll.open", "rosey.actions.poll.close"], subscribe: ["rosey.events.poll.>"] },
    2,
  ),
  "platform.raw": cap("admin", "Receive raw platform events exactly as the platform sent them", {
    subscribe: ["rosey.platform.>"],
  }),
} satisfies Record<string, Capability>);

export type CapabilityName = keyof typeof CAPABILITIES;

/**
 * Subjects a broader pattern covers that only one capability may receive. A private message belongs to
 * its sender and the bot, not to every plugin that reads the channel: `events.read`'s `rosey.events.>`
 * does not deliver `rosey.events.pm`; only `chat.pm` does.
 */
export const PRIVATE_SUBJECTS: Readonly<Record<string, CapabilityName>> = Object.freeze({
  "rosey.events.pm": "chat.pm",
});

export function isCapability(name: string): name is CapabilityName {
  return Object.hasOwn(CAPABILITIES, name);
}

export function isGroup(name: string): name is Group {
  return (GROUPS as readonly string[]).includes(name);
}

/** Capabilities a group grants. Groups are cumulative: `moderator` includes `basic`, `admin` everything. */
export function capabilitiesOfGroup(group: Group): CapabilityName[] {
  const level = GROUPS.indexOf(group);
  return (Object.keys(CAPABILITIES) as CapabilityName[]).filter(
    (name) => GROUPS.indexOf(CAPABILITIES[name].group) <= level,
  );
}

/**
 * Subjects no grant ever reaches: the core's security and admin channels and reply inboxes.
 * Another plugin's namespace is refused separately (it depends on who asks).
 */
export const NEVER_GRANTED = Object.freeze(["rosey.security.>", "rosey.admin.>", "_INBOX.>"]);
