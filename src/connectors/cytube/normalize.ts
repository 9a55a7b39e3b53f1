import type { ChatEvent, UserData } from "../../core/envelope.js";
import { htmlToText } from "./html.js";
import {
  type CytubeUser,
  MAX_PLAYLIST_ITEMS,
  MAX_USERS,
  toMedia,
  toPlaylistItem,
  toUser,
  userName,
} from "./state.js";

/**
 * Pure translation of one CyTube server frame into normalized Rosey events (design.md §3). Every event
 * carries `platform`, `channel`, `timestamp` (the server's `time` where the frame has one, else receipt
 * time) and the original frame under `platform_data`.
 */

export const PLATFORM = "cytube";

export interface NormalizeContext {
  channel: string;
  /** When the frame arrived (ms). */
  receivedAt: number;
  /** The bot's confirmed name, if logged in. */
  self: string | undefined;
  /**
   * True once our own `addUser` arrived. Chat before that is the history replay of messages we have
   * seen (or never should act on): it is not published as `rosey.events.message`.
   */
  joined: boolean;
  /** The user as the state knew them *before* this frame. */
  lookup(name: string): CytubeUser | undefined;
}

export interface NormalizedEvent {
  /** Subject suffix after `rosey.events.` */
  type: string;
  data: Record<string, unknown>;
}

const MODERATOR_RANK = 2;

export function userData(user: Pick<CytubeUser, "name" | "rank" | "afk">): UserData {
  return {
    username: user.name,
    rank: user.rank,
    is_afk: user.afk,
    is_moderator: user.rank >= MODERATOR_RANK,
  };
}

const rec = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

function base(ctx: NormalizeContext, payload: unknown, timestamp?: number): Record<string, unknown> {
  return {
    platform: PLATFORM,
    channel: ctx.channel,
    timestamp: timestamp ?? ctx.receivedAt,
    platform_data: payload,
  };
}

const sameName = (a: string | undefined, b: string): boolean =>
  a !== undefined && a.toLowerCase() === b.toLowerCase();

function knownUserData(ctx: NormalizeContext, name: string): UserData {
  const u = ctx.lookup(name);
  return userData(u ?? { name, rank: name.startsWith("[") ? -1 : 0, afk: false });
}

/** The fields `chatMsg` and `pm` share; `undefined` for a malformed frame. */
function chatLine(payload: unknown, ctx: NormalizeContext): ChatEvent | undefined {
  const r = rec(payload);
  const user = userName(r.username);
  if (!user || typeof r.msg !== "string") return undefined;
  const event: ChatEvent = {
    platform: PLATFORM,
    channel: ctx.channel,
    user,
    content: htmlToText(r.msg),
    timestamp: num(r.time) ?? ctx.receivedAt,
    user_data: knownUserData(ctx, user),
    platform_data: payload,
  };
  if (sameName(ctx.self, user)) event.is_self = true;
  return event;
}

/**
 * `chatMsg` → `rosey.events.message`; `undefined` for history replay, malformed frames and a shadow-muted
 * user's line. The server shows those only to moderators (`meta.shadow`, cytube-protocol.md §5.3): passed on,
 * a shadow-muted user could still command the bot and have it speak in public. The raw frame is still
 * published for `platform.raw`.
 */
export function normalizeChat(payload: unknown, ctx: NormalizeContext): ChatEvent | undefined {
  if (!ctx.joined || rec(rec(payload).meta).shadow === true) return undefined;
  return chatLine(payload, ctx);
}

/** `pm` → `rosey.events.pm` with `recipient`. PMs are not replayed, so they count even before `addUser`. */
export function normalizePm(payload: unknown, ctx: NormalizeContext): ChatEvent | undefined {
  const event = chatLine(payload, ctx);
  const recipient = userName(rec(payload).to);
  if (event && recipient) event.recipient = recipient;
  return event;
}

function pollData(payload: unknown): Record<string, unknown> {
  const r = rec(payload);
  return {
    title: htmlToText(str(r.title)),
    options: (Array.isArray(r.options) ? r.options : []).map((o) => htmlToText(str(o))),
    counts: Array.isArray(r.counts) ? r.counts : [],
    initiator: str(r.initiator),
  };
}

function mediaData(media: ReturnType<typeof toMedia>): Record<string, unknown> {
  return {
    id: media.id,
    title: media.title,
    type: media.type,
    seconds: media.seconds,
    duration: media.duration,
  };
}

function itemData(raw: unknown): Record<string, unknown> | undefined {
  const item = toPlaylistItem(raw);
  if (!item) return undefined;
  return { uid: item.uid, temp: item.temp, queued_by: item.queueby, media: mediaData(item.media) };
}

/** Frames that report a failure to us; each becomes `rosey.events.error` with a stable `code`. */
const ERROR_FRAMES: Readonly<Record<string, string>> = {
  errorMsg: "CYTUBE_ERROR",
  queueFail: "QUEUE_FAILED",
  channelRankFail: "RANK_FAILED",
  spamFiltered: "SPAM_FILTERED",
  noflood: "NOFLOOD",
  validationError: "VALIDATION_FAILED",
  costanza: "CYTUBE_ERROR",
  cooldown: "COOLDOWN",
};

/**
 * Translates one frame. Returns the normalized events it yields (often none: many frames only update
 * state or are raw-only).
 */
export function normalizeEvent(event: string, payload: unknown, ctx: NormalizeContext): NormalizedEvent[] {
  const r = rec(payload);
  switch (event) {
    case "chatMsg": {
      const e = normalizeChat(payload, ctx);
      return e ? [{ type: "message", data: e }] : [];
    }
    case "pm": {
      const e = normalizePm(payload, ctx);
      return e ? [{ type: "pm", data: e }] : [];
    }
    case "addUser": {
      const u = toUser(payload);
      if (!u) return [];
      return [{ type: "user.join", data: { ...base(ctx, payload), user: u.name, user_data: userData(u) } }];
    }
    case "userLeave": {
      const name = userName(r.name);
      if (!name) return [];
      return [
        {
          type: "user.leave",
          data: { ...base(ctx, payload), user: name, user_data: knownUserData(ctx, name) },
        },
      ];
    }
    case "userlist": {
      const users = (Array.isArray(payload) ? payload.slice(0, MAX_USERS) : [])
        .map(toUser)
        .filter((u): u is CytubeUser => u !== undefined)
        .map(userData);
      return [{ type: "user.list", data: { ...base(ctx, payload), users, count: users.length } }];
    }
    case "setUserRank": {
      const name = userName(r.name);
      const rank = num(r.rank);
      if (!name || rank === undefined) return [];
      const before = ctx.lookup(name);
      const ud = userData({ name, rank, afk: before?.afk ?? false });
      return [
        {
          type: "user.rank",
          data: {
            ...base(ctx, payload),
            user: name,
            rank,
            previous_rank: before?.rank ?? null,
            user_data: ud,
          },
        },
      ];
    }
    case "setAFK": {
      const name = userName(r.name);
      if (!name) return [];
      const before = ctx.lookup(name);
      const ud = userData({ name, rank: before?.rank ?? 0, afk: r.afk === true });
      return [
        {
          type: "user.afk",
          data: { ...base(ctx, payload), user: name, is_afk: r.afk === true, user_data: ud },
        },
      ];
    }
    case "changeMedia": {
      const media = toMedia(payload);
      return [
        {
          type: "media.change",
          data: {
            ...base(ctx, payload),
            media: mediaData(media),
            current_time: num(r.currentTime) ?? 0,
            paused: r.paused === true,
          },
        },
      ];
    }
    case "mediaUpdate":
      return [
        {
          type: "media.update",
          data: { ...base(ctx, payload), current_time: num(r.currentTime) ?? 0, paused: r.paused === true },
        },
      ];
    case "playlist": {
      const items = (Array.isArray(payload) ? payload.slice(0, MAX_PLAYLIST_ITEMS) : [])
        .map(itemData)
        .filter((i) => i !== undefined);
      return [{ type: "playlist.set", data: { ...base(ctx, payload), items, count: items.length } }];
    }
    case "queue": {
      const item = itemData(r.item);
      if (!item) return [];
      return [{ type: "playlist.queue", data: { ...base(ctx, payload), item, after: r.after ?? null } }];
    }
    case "delete":
      return [{ type: "playlist.delete", data: { ...base(ctx, payload), uid: num(r.uid) ?? null } }];
    case "moveVideo":
      return [
        {
          type: "playlist.move",
          data: { ...base(ctx, payload), from: r.from ?? null, after: r.after ?? null },
        },
      ];
    case "setTemp":
      return [
        {
          type: "playlist.temp",
          data: { ...base(ctx, payload), uid: num(r.uid) ?? null, temp: r.temp === true },
        },
      ];
    case "setPlaylistLocked":
      return [{ type: "playlist.lock", data: { ...base(ctx, payload), locked: payload === true } }];
    case "setCurrent":
      return [{ type: "playlist.current", data: { ...base(ctx, payload), uid: num(payload) ?? null } }];
    case "newPoll":
      return [{ type: "poll.open", data: { ...base(ctx, payload, num(r.timestamp)), ...pollData(payload) } }];
    case "updatePoll":
      return [
        { type: "poll.update", data: { ...base(ctx, payload, num(r.timestamp)), ...pollData(payload) } },
      ];
    case "closePoll":
      return [{ type: "poll.close", data: base(ctx, payload) }];
    case "usercount":
      return [{ type: "usercount", data: { ...base(ctx, payload), count: num(payload) ?? 0 } }];
    case "kick":
      return [
        { type: "kick", data: { ...base(ctx, payload), user: ctx.self ?? null, reason: str(r.reason) } },
      ];
    default: {
      const code = ERROR_FRAMES[event];
      if (!code) return [];
      const message =
        event === "cooldown"
          ? `Flood control dropped a message; retry after ${num(payload) ?? 0} ms`
          : event === "spamFiltered"
            ? `Message filtered as spam: ${str(r.reason)}`
            : htmlToText(str(r.msg) || str(r.message) || (typeof payload === "string" ? payload : ""));
      return [{ type: "error", data: { ...base(ctx, payload), code, message, event } }];
    }
  }
}
