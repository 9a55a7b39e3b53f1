/**
 * Which CyTube permission node each Rosey action needs, and whether the bot's rank passes it.
 * Several privileged frames get the sender *kicked* instead of refused (cytube-protocol.md §4.4, §8), so
 * every action is checked here before a frame is sent.
 */

/** The default permission table of a registered channel (§7), used until the server sends its own. */
export const DEFAULT_PERMISSIONS: Readonly<Record<string, number>> = Object.freeze({
  seeplaylist: -1,
  playlistadd: 1.5,
  playlistnext: 1.5,
  playlistmove: 1.5,
  playlistdelete: 2,
  playlistjump: 1.5,
  playlistaddlist: 1.5,
  oplaylistadd: -1,
  oplaylistnext: 1.5,
  oplaylistmove: 1.5,
  oplaylistdelete: 2,
  oplaylistjump: 1.5,
  oplaylistaddlist: 1.5,
  playlistaddcustom: 3,
  playlistaddrawfile: 2,
  playlistaddlive: 1.5,
  exceedmaxlength: 2,
  addnontemp: 2,
  settemp: 2,
  playlistshuffle: 2,
  playlistclear: 2,
  pollctl: 1.5,
  pollvote: -1,
  viewhiddenpoll: 1.5,
  voteskip: -1,
  viewvoteskip: 1.5,
  mute: 1.5,
  kick: 1.5,
  ban: 2,
  motdedit: 3,
  filteredit: 3,
  filterimport: 3,
  emoteedit: 3,
  emoteimport: 3,
  playlistlock: 2,
  leaderctl: 2,
  drink: 1.5,
  chat: 0,
  chatclear: 2,
  exceedmaxitems: 2,
  deletefromchannellib: 2,
  exceedmaxdurationperuser: 2,
});

export interface RankContext {
  /** The bot's effective rank (`rank` frame). */
  rank: number;
  /** The channel's table (`setPermissions`). A node that is missing fails every comparison, as on the server. */
  permissions: Readonly<Record<string, number>>;
  playlistLocked: boolean;
}

/** `hasPermission`: a node the channel never set fails (unregistered channels leave kick/ban/mute unset). */
export function hasPermission(ctx: RankContext, node: string): boolean {
  const needed = ctx.permissions[node];
  return typeof needed === "number" && ctx.rank >= needed;
}

/**
 * Playlist nodes come in two sets: `playlist…` while the playlist is locked, and the more permissive
 * `oplaylist…` (or the locked node) while it is unlocked.
 */
export function hasPlaylistPermission(ctx: RankContext, key: string): boolean {
  if (ctx.playlistLocked) return hasPermission(ctx, `playlist${key}`);
  return hasPermission(ctx, `oplaylist${key}`) || hasPermission(ctx, `playlist${key}`);
}

const LIVE_TYPES = new Set(["li", "tw", "rt", "cu", "hl"]);

/** The nodes a `queue` of `type` needs beyond `add`, with the server's own refusal text. */
export function queueTypeProblem(ctx: RankContext, type: string): string | undefined {
  if (type === "yp" && !hasPlaylistPermission(ctx, "addlist"))
    return "You don't have permission to add playlists";
  if (LIVE_TYPES.has(type) && !hasPermission(ctx, "playlistaddlive"))
    return "You don't have permission to add live media";
  if (type === "cu" && !hasPermission(ctx, "playlistaddcustom"))
    return "You don't have permission to add custom embeds";
  if ((type === "fi" || type === "cm") && !hasPermission(ctx, "playlistaddrawfile"))
    return "You don't have permission to add raw video files";
  return undefined;
}

/** Text of a refusal that names the rule and the current value (style.md). */
export function describeNeed(ctx: RankContext, action: string, node: string): string {
  const needed = ctx.permissions[node];
  const rule =
    typeof needed === "number"
      ? `needs rank ≥ ${needed} ('${node}')`
      : `needs permission '${node}', which this channel does not grant to anyone`;
  return `Cannot ${action} on CyTube as it ${rule}: the bot's rank is ${ctx.rank}`;
}
