import { z } from "zod";
import type { ErrorCode } from "../../core/errors.js";
import type { Addition } from "./add-queue.js";
import {
  describeNeed,
  hasPermission,
  hasPlaylistPermission,
  queueTypeProblem,
  type RankContext,
} from "./permissions.js";
import { splitMessage } from "./split.js";
import type { ChannelState } from "./state.js";

/**
 * `rosey.actions.*` → what to send to CyTube, after validating the payload and checking the bot's rank
 * against the channel's permission table. Pure: it plans, the connector sends.
 */

const target = { platform: z.literal("cytube"), channel: z.string().min(1) };
/** CyTube user names (§9); anything else could smuggle extra words into a slash command. */
const userName = z.string().regex(/^[\w-]{1,20}$/, "must be a CyTube user name (1-20 of a-z, 0-9, _ or -)");
const oneLine = z
  .string()
  .max(300)
  .transform((s) => s.replace(/[\x00-\x1f]/g, " ").trim());
const uid = z.number().int().nonnegative();

export const ACTION_SCHEMAS = {
  "chat.send": z.object({ ...target, text: z.string().min(1).max(10_000) }),
  "chat.pm": z.object({ ...target, to: userName, text: z.string().min(1).max(10_000) }),
  "chat.clear": z.object(target),
  "chat.delete": z.object(target).passthrough(),
  "users.kick": z.object({ ...target, user: userName, reason: oneLine.optional() }),
  "users.ban": z.object({
    ...target,
    user: userName,
    reason: oneLine.optional(),
    ip: z.boolean().default(false),
  }),
  "users.mute": z.object({
    ...target,
    user: userName,
    mute: z.boolean().default(true),
    shadow: z.boolean().default(false),
  }),
  "playlist.queue": z.object({
    ...target,
    id: z.string().min(1).max(1000),
    type: z.string().regex(/^[a-z]{2}$/, "must be a two-letter CyTube media type such as 'yt'"),
    pos: z.enum(["next", "end"]).default("end"),
    temp: z.boolean().default(true),
    title: z.string().max(255).optional(),
    duration: z.number().nonnegative().optional(),
  }),
  "playlist.delete": z.object({ ...target, uid }),
  "playlist.move": z.object({ ...target, from: uid, after: z.union([uid, z.enum(["prepend", "append"])]) }),
  "playlist.jump": z.object({ ...target, uid }),
  "playlist.next": z.object(target),
  "playlist.temp": z.object({ ...target, uid, temp: z.boolean() }),
  "poll.open": z.object({
    ...target,
    title: z.string().min(1).max(255),
    options: z.array(z.string().min(1).max(255)).min(1).max(50),
    obscured: z.boolean().default(false),
    timeout: z.number().int().min(1).max(86_400).optional(),
  }),
  "poll.close": z.object(target),
} as const;

export type ActionName = keyof typeof ACTION_SCHEMAS;

export function isActionName(name: string): name is ActionName {
  return Object.hasOwn(ACTION_SCHEMAS, name);
}

export interface ChatLine {
  kind: "chat" | "pm";
  text: string;
  to?: string;
  /** Slash commands get no echo from the server. */
  expectEcho: boolean;
}

export type ActionPlan =
  | { ok: true; kind: "chat"; lines: ChatLine[] }
  | { ok: true; kind: "frame"; event: string; payload?: unknown; ack?: boolean }
  /** A `queue` frame, paced to the server's queue limiter (add-queue.ts). */
  | { ok: true; kind: "add"; payload: Addition["payload"] }
  | { ok: false; code: ErrorCode; message: string };

const refuse = (code: ErrorCode, message: string): ActionPlan => ({ ok: false, code, message });

/** `/me ` and `/sp ` style a line; plugin text may use them, nothing else that starts with '/'. */
export const STYLE_PREFIX = /^\/(me|sp) /;

/**
 * Plain text must never become a slash command (a `chat.send` plugin, or a user whose words a plugin repeats,
 * could otherwise `/kick` or `/ban` with the bot's rank). The server runs what follows `/me ` or `/sp ` through
 * its chat pipeline again (calzoneman/sync `handleCmdMe`), so `/me /kick bob` kicks bob: that rest is
 * neutralised too. One style prefix is kept; a second one is text.
 */
export function neutralizeCommand(line: string): string {
  if (!line.startsWith("/")) return line;
  const style = STYLE_PREFIX.exec(line);
  // A zero-width space keeps the text as typed while the server sees no leading '/'.
  if (!style) return `\u200b${line}`;
  const rest = line.slice(style[0].length);
  // Leading blanks too: whether the server trims them before it looks for a command is not ours to bet on.
  return /^\s*\//.test(rest) ? `${style[0]}\u200b${rest}` : line;
}

function need(ctx: RankContext, action: string, node: string): ActionPlan | undefined {
  return hasPermission(ctx, node) ? undefined : refuse("PERMISSION_DENIED", describeNeed(ctx, action, node));
}

function needPlaylist(ctx: RankContext, action: string, key: string): ActionPlan | undefined {
  if (hasPlaylistPermission(ctx, key)) return undefined;
  const node = ctx.playlistLocked ? `playlist${key}` : `oplaylist${key}`;
  return refuse("PERMISSION_DENIED", describeNeed(ctx, action, node));
}

/** Moderation needs the node *and* a target ranked below the bot (§4.2). */
function targetBelow(
  state: ChannelState,
  ctx: RankContext,
  action: string,
  user: string,
): ActionPlan | undefined {
  const u = state.user(user);
  if (!u)
    return refuse(
      "NOT_FOUND",
      `Cannot ${action} '${user}' on CyTube as they are not in channel '${state.channel}'`,
    );
  if (u.rank >= ctx.rank) {
    return refuse(
      "PERMISSION_DENIED",
      `Cannot ${action} '${u.name}' on CyTube as the target's rank must be below the bot's: target ${u.rank}, bot ${ctx.rank}`,
    );
  }
  return undefined;
}

/** Validates `data` for `action` and decides what to send, or why not. */
export function planAction(
  action: ActionName,
  data: unknown,
  state: ChannelState,
  ctx: RankContext = state.rankContext(),
): ActionPlan {
  const parsed = ACTION_SCHEMAS[action].safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join(".") : "(payload)";
    return refuse(
      "VALIDATION_FAILED",
      `Invalid rosey.actions.${action} payload: '${where}' ${issue?.message ?? "is invalid"}`,
    );
  }
  if (ctx.rank < 0) {
    return refuse(
      "PERMISSION_DENIED",
      `Cannot ${action} on CyTube as the bot is not logged in: its rank is ${ctx.rank}`,
    );
  }
  switch (action) {
    case "chat.send": {
      const d = parsed.data as z.infer<(typeof ACTION_SCHEMAS)["chat.send"]>;
      const denied = need(ctx, "send chat", "chat");
      if (denied) return denied;
      const lines = splitMessage(d.text).map((text) => ({
        kind: "chat" as const,
        text: neutralizeCommand(text),
        expectEcho: true,
      }));
      if (lines.length === 0)
        return refuse("VALIDATION_FAILED", "Cannot send a blank chat message: CyTube drops it");
      return { ok: true, kind: "chat", lines };
    }
    case "chat.pm": {
      const d = parsed.data as z.infer<(typeof ACTION_SCHEMAS)["chat.pm"]>;
      if (!state.user(d.to))
        return refuse(
          "NOT_FOUND",
          `Cannot PM '${d.to}' on CyTube as they are not in channel '${state.channel}'`,
        );
      const lines = splitMessage(d.text).map((text) => ({
        kind: "pm" as const,
        text,
        to: d.to,
        expectEcho: true,
      }));
      if (lines.length === 0) return refuse("VALIDATION_FAILED", "Cannot send a blank PM: CyTube drops it");
      return { ok: true, kind: "chat", lines };
    }
    case "chat.clear":
      return (
        need(ctx, "clear the chat", "chatclear") ?? {
          ok: true,
          kind: "chat",
          lines: [{ kind: "chat", text: "/clear", expectEcho: false }],
        }
      );
    case "chat.delete":
      return refuse(
        "VALIDATION_FAILED",
        "Cannot delete a single chat message on CyTube: the protocol has no such frame; use chat.clear",
      );
    case "users.kick": {
      const d = parsed.data as z.infer<(typeof ACTION_SCHEMAS)["users.kick"]>;
      const denied = need(ctx, "kick", "kick") ?? targetBelow(state, ctx, "kick", d.user);
      if (denied) return denied;
      return {
        ok: true,
        kind: "chat",
        lines: [
          { kind: "chat", text: `/kick ${d.user}${d.reason ? ` ${d.reason}` : ""}`, expectEcho: false },
        ],
      };
    }
    case "users.ban": {
      const d = parsed.data as z.infer<(typeof ACTION_SCHEMAS)["users.ban"]>;
      const denied = need(ctx, "ban", "ban") ?? targetBelow(state, ctx, "ban", d.user);
      if (denied) return denied;
      const cmd = d.ip ? "/ipban" : "/ban";
      return {
        ok: true,
        kind: "chat",
        lines: [
          { kind: "chat", text: `${cmd} ${d.user}${d.reason ? ` ${d.reason}` : ""}`, expectEcho: false },
        ],
      };
    }
    case "users.mute": {
      const d = parsed.data as z.infer<(typeof ACTION_SCHEMAS)["users.mute"]>;
      const denied = need(ctx, "mute", "mute") ?? targetBelow(state, ctx, "mute", d.user);
      if (denied) return denied;
      const cmd = `/${d.mute ? "" : "un"}${d.shadow ? "smute" : "mute"}`;
      return {
        ok: true,
        kind: "chat",
        lines: [{ kind: "chat", text: `${cmd} ${d.user}`, expectEcho: false }],
      };
    }
    case "playlist.queue": {
      const d = parsed.data as z.infer<(typeof ACTION_SCHEMAS)["playlist.queue"]>;
      // Without these the server ignores the frame silently (§4.3): refuse so the plugin knows.
      const denied =
        needPlaylist(ctx, "queue media", "add") ??
        (d.pos === "next" ? needPlaylist(ctx, "queue media next", "next") : undefined);
      if (denied) return denied;
      const typeProblem = queueTypeProblem(ctx, d.type);
      if (typeProblem)
        return refuse(
          "PERMISSION_DENIED",
          `Cannot queue '${d.type}' media on CyTube: ${typeProblem} (bot rank ${ctx.rank})`,
        );
      return {
        ok: true,
        kind: "add",
        payload: {
          id: d.id,
          type: d.type,
          pos: d.pos,
          temp: d.temp,
          ...(d.title !== undefined ? { title: d.title } : {}),
          ...(d.duration !== undefined ? { duration: d.duration } : {}),
        },
      };
    }
    case "playlist.delete": {
      const d = parsed.data as z.infer<(typeof ACTION_SCHEMAS)["playlist.delete"]>;
      return (
        needPlaylist(ctx, "delete playlist items", "delete") ?? {
          ok: true,
          kind: "frame",
          event: "delete",
          payload: d.uid,
        }
      );
    }
    case "playlist.move": {
      const d = parsed.data as z.infer<(typeof ACTION_SCHEMAS)["playlist.move"]>;
      return (
        needPlaylist(ctx, "move playlist items", "move") ?? {
          ok: true,
          kind: "frame",
          event: "moveMedia",
          payload: { from: d.from, after: d.after },
        }
      );
    }
    case "playlist.jump": {
      const d = parsed.data as z.infer<(typeof ACTION_SCHEMAS)["playlist.jump"]>;
      return (
        needPlaylist(ctx, "jump to a playlist item", "jump") ?? {
          ok: true,
          kind: "frame",
          event: "jumpTo",
          payload: d.uid,
        }
      );
    }
    case "playlist.next":
      return (
        needPlaylist(ctx, "skip to the next item", "jump") ?? { ok: true, kind: "frame", event: "playNext" }
      );
    case "playlist.temp": {
      const d = parsed.data as z.infer<(typeof ACTION_SCHEMAS)["playlist.temp"]>;
      return (
        need(ctx, "set an item's temporary flag", "settemp") ?? {
          ok: true,
          kind: "frame",
          event: "setTemp",
          payload: { uid: d.uid, temp: d.temp },
        }
      );
    }
    case "poll.open": {
      const d = parsed.data as z.infer<(typeof ACTION_SCHEMAS)["poll.open"]>;
      return (
        need(ctx, "open a poll", "pollctl") ?? {
          ok: true,
          kind: "frame",
          event: "newPoll",
          payload: {
            title: d.title,
            opts: d.options,
            obscured: d.obscured,
            ...(d.timeout ? { timeout: d.timeout } : {}),
          },
          ack: true,
        }
      );
    }
    case "poll.close":
      return need(ctx, "close a poll", "pollctl") ?? { ok: true, kind: "frame", event: "closePoll" };
  }
}
