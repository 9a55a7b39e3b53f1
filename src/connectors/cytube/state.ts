import { DEFAULT_PERMISSIONS, type RankContext } from "./permissions.js";

/**
 * Caps on what a server can make us hold. Real channels stay far below (CyTube's playlist limit is 4,000 by
 * default; the busiest channels have a few thousand users); a broken or hostile server sending a userlist of
 * 200,000 entries grew the core by 200 MiB, and 100,000 playlist items made each `queue` frame a long scan.
 */
export const MAX_USERS = 10_000;
export const MAX_PLAYLIST_ITEMS = 20_000;

/**
 * CyTube names are 1-20 of `[A-Za-z0-9_-]`, plus the server's own `[server]`-style senders (cytube-protocol.md
 * §9). Anything longer, or with spaces, control, format or bidi characters, is a broken or hostile server's:
 * a name keys our users map and the router's cooldowns, and plugins repeat it in chat.
 */
export const MAX_NAME_LENGTH = 64;
const NOT_IN_A_NAME = /[\s\u0000-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

/** `value` if it can be a CyTube user name, else `""`. */
export function userName(value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_NAME_LENGTH) return "";
  return NOT_IN_A_NAME.test(value) ? "" : value;
}

/**
 * What the connector knows about its channel, kept from server frames (cytube-protocol.md §5, §10.4) and
 * answered over `rosey.api.*`. Only `apply` changes it; it never talks to the network.
 */

export interface CytubeUser {
  name: string;
  rank: number;
  afk: boolean;
  muted: boolean;
  profile: { image: string; text: string };
  meta: Record<string, unknown>;
}

export interface CytubeMedia {
  id: string;
  title: string;
  seconds: number;
  duration: string;
  type: string;
  meta: Record<string, unknown>;
}

export interface PlaylistItem {
  uid: number;
  temp: boolean;
  queueby: string;
  media: CytubeMedia;
}

export interface MediaPosition {
  currentTime: number;
  paused: boolean;
  /** Receipt time (ms) of the frame that set the position. */
  at: number;
}

export interface PollState {
  title: string;
  options: string[];
  counts: Array<number | string>;
  initiator: string;
  timestamp: number;
}

const asRecord = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const asString = (v: unknown, fallback = ""): string => (typeof v === "string" ? v : fallback);
const asNumber = (v: unknown, fallback = 0): number =>
  typeof v === "number" && Number.isFinite(v)
    ? v
    : typeof v === "string" && v !== "" && Number.isFinite(Number(v))
      ? Number(v)
      : fallback;

export function toUser(raw: unknown): CytubeUser | undefined {
  const r = asRecord(raw);
  const name = userName(r.name);
  if (!name) return undefined;
  const meta = asRecord(r.meta);
  const profile = asRecord(r.profile);
  return {
    name,
    rank: asNumber(r.rank),
    afk: meta.afk === true,
    muted: meta.muted === true,
    profile: { image: asString(profile.image), text: asString(profile.text) },
    meta,
  };
}

export function toMedia(raw: unknown): CytubeMedia {
  const r = asRecord(raw);
  return {
    id: asString(r.id),
    title: asString(r.title),
    seconds: asNumber(r.seconds),
    duration: asString(r.duration),
    type: asString(r.type),
    meta: asRecord(r.meta),
  };
}

export function toPlaylistItem(raw: unknown): PlaylistItem | undefined {
  const r = asRecord(raw);
  if (r.uid === undefined) return undefined;
  return {
    uid: asNumber(r.uid),
    temp: r.temp === true,
    queueby: asString(r.queueby),
    media: toMedia(r.media),
  };
}

export class ChannelState {
  readonly users = new Map<string, CytubeUser>();
  playlist: PlaylistItem[] = [];
  currentUid: number | undefined;
  media: CytubeMedia | undefined;
  position: MediaPosition | undefined;
  permissions: Record<string, number> = { ...DEFAULT_PERMISSIONS };
  /** False until the server sent its own table this session. */
  permissionsKnown = false;
  options: Record<string, unknown> = {};
  playlistLocked = true;
  playlistMeta: { count: number; rawTime: number; time: string } = { count: 0, rawTime: 0, time: "00:00" };
  leader = "";
  usercount = 0;
  poll: PollState | undefined;
  motd = "";
  /** The bot's effective rank. */
  rank = -1;
  /** The name the server confirmed in `login`. */
  self: string | undefined;
  /** Users and playlist items left out because of `MAX_USERS` / `MAX_PLAYLIST_ITEMS`, since the start. */
  overflow = 0;

  constructor(readonly channel: string) {}

  rankContext(): RankContext {
    return { rank: this.rank, permissions: this.permissions, playlistLocked: this.playlistLocked };
  }

  user(name: string): CytubeUser | undefined {
    return this.users.get(name.toLowerCase());
  }

  isSelf(name: string): boolean {
    return this.self !== undefined && name.toLowerCase() === this.self.toLowerCase();
  }

  /**
   * A new socket: the server resends everything (userlist, playlist, permissions…) and each frame replaces
   * what we had, so the last known picture stays readable while we are away. Only our rank restarts.
   */
  resetSession(): void {
    this.rank = -1;
    this.permissionsKnown = false;
  }

  /** Updates the state from one server frame; unknown events are ignored. */
  apply(event: string, payload: unknown, receivedAt: number): void {
    switch (event) {
      case "rank":
        this.rank = asNumber(payload, this.rank);
        break;
      case "login": {
        const r = asRecord(payload);
        if (r.success === true) this.self = asString(r.name, this.self);
        break;
      }
      case "setPermissions":
        this.permissions = Object.fromEntries(
          Object.entries(asRecord(payload)).filter((e): e is [string, number] => typeof e[1] === "number"),
        );
        this.permissionsKnown = true;
        break;
      case "channelOpts":
        this.options = { ...asRecord(payload) };
        break;
      case "setPlaylistLocked":
        this.playlistLocked = payload === true;
        break;
      case "setMotd":
        this.motd = asString(payload);
        break;
      case "userlist":
        this.users.clear();
        for (const raw of Array.isArray(payload) ? payload : []) {
          const u = toUser(raw);
          if (u) this.#addUser(u);
        }
        break;
      case "addUser": {
        const u = toUser(payload);
        if (u) this.#addUser(u);
        break;
      }
      case "userLeave":
        this.users.delete(asString(asRecord(payload).name).toLowerCase());
        break;
      case "setUserRank": {
        const r = asRecord(payload);
        const u = this.user(asString(r.name));
        if (u) u.rank = asNumber(r.rank, u.rank);
        break;
      }
      case "setUserMeta": {
        const r = asRecord(payload);
        const u = this.user(asString(r.name));
        if (u) {
          u.meta = asRecord(r.meta);
          u.afk = u.meta.afk === true;
          u.muted = u.meta.muted === true;
        }
        break;
      }
      case "setAFK": {
        const r = asRecord(payload);
        const u = this.user(asString(r.name));
        if (u) u.afk = r.afk === true;
        break;
      }
      case "setUserProfile": {
        const r = asRecord(payload);
        const u = this.user(asString(r.name));
        const p = asRecord(r.profile);
        if (u) u.profile = { image: asString(p.image), text: asString(p.text) };
        break;
      }
      case "setLeader":
        this.leader = asString(payload);
        break;
      case "usercount":
        this.usercount = asNumber(payload, this.usercount);
        break;
      case "playlist": {
        const all = Array.isArray(payload) ? payload : [];
        if (all.length > MAX_PLAYLIST_ITEMS) this.overflow += all.length - MAX_PLAYLIST_ITEMS;
        this.playlist = all
          .slice(0, MAX_PLAYLIST_ITEMS)
          .map(toPlaylistItem)
          .filter((i): i is PlaylistItem => i !== undefined);
        break;
      }
      case "setPlaylistMeta": {
        const r = asRecord(payload);
        this.playlistMeta = {
          count: asNumber(r.count),
          rawTime: asNumber(r.rawTime),
          time: asString(r.time),
        };
        break;
      }
      case "queue": {
        const r = asRecord(payload);
        const item = toPlaylistItem(r.item);
        if (!item) break;
        this.playlist = this.playlist.filter((i) => i.uid !== item.uid);
        if (this.playlist.length >= MAX_PLAYLIST_ITEMS) {
          this.overflow += 1;
          break;
        }
        const after = r.after;
        if (after === "prepend") this.playlist.unshift(item);
        else {
          const at = this.playlist.findIndex((i) => i.uid === asNumber(after, Number.NaN));
          if (at < 0) this.playlist.push(item);
          else this.playlist.splice(at + 1, 0, item);
        }
        break;
      }
      case "delete": {
        const uid = asNumber(asRecord(payload).uid, Number.NaN);
        this.playlist = this.playlist.filter((i) => i.uid !== uid);
        break;
      }
      case "moveVideo": {
        const r = asRecord(payload);
        const from = asNumber(r.from, Number.NaN);
        const at = this.playlist.findIndex((i) => i.uid === from);
        if (at < 0) break;
        const [item] = this.playlist.splice(at, 1);
        if (r.after === "prepend") this.playlist.unshift(item!);
        else if (r.after === "append") this.playlist.push(item!);
        else {
          const to = this.playlist.findIndex((i) => i.uid === asNumber(r.after, Number.NaN));
          if (to < 0) this.playlist.push(item!);
          else this.playlist.splice(to + 1, 0, item!);
        }
        break;
      }
      case "setTemp": {
        const r = asRecord(payload);
        const item = this.playlist.find((i) => i.uid === asNumber(r.uid, Number.NaN));
        if (item) item.temp = r.temp === true;
        break;
      }
      case "setCurrent":
        this.currentUid = asNumber(payload, Number.NaN);
        if (Number.isNaN(this.currentUid)) this.currentUid = undefined;
        break;
      case "changeMedia": {
        const r = asRecord(payload);
        this.media = toMedia(r);
        this.position = { currentTime: asNumber(r.currentTime), paused: r.paused === true, at: receivedAt };
        break;
      }
      case "mediaUpdate": {
        const r = asRecord(payload);
        this.position = { currentTime: asNumber(r.currentTime), paused: r.paused === true, at: receivedAt };
        break;
      }
      case "newPoll":
      case "updatePoll": {
        const r = asRecord(payload);
        this.poll = {
          title: asString(r.title),
          options: (Array.isArray(r.options) ? r.options : []).map((o) => asString(o)),
          counts: (Array.isArray(r.counts) ? r.counts : []).map((c) =>
            typeof c === "number" ? c : asString(c),
          ),
          initiator: asString(r.initiator),
          timestamp: asNumber(r.timestamp, receivedAt),
        };
        break;
      }
      case "closePoll":
        this.poll = undefined;
        break;
      case "clearchat":
        break;
      default:
        break;
    }
  }

  #addUser(u: CytubeUser): void {
    const key = u.name.toLowerCase();
    if (this.users.size >= MAX_USERS && !this.users.has(key)) {
      this.overflow += 1;
      return;
    }
    this.users.set(key, u);
  }

  /** `rosey.api.channel.get` answer. */
  snapshot(): Record<string, unknown> {
    return {
      channel: this.channel,
      self: this.self ?? null,
      rank: this.rank,
      permissions: { ...this.permissions },
      options: { ...this.options, password: this.options.password ? "[redacted]" : false },
      playlist_locked: this.playlistLocked,
      leader: this.leader,
      usercount: this.usercount,
      motd: this.motd,
      current: this.currentUid ?? null,
      media: this.media ?? null,
      position: this.position ?? null,
      poll: this.poll ?? null,
    };
  }
}
