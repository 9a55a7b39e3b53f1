// Quotes: a bundled plugin using only ctx.storage, ctx.random() and ctx.now().
//   !quote add <text>     store a quote, reply with its number
//   !quote <id>           show quote number <id>
//   !quote random         show a random quote
//   !quote search <word>  quotes containing <word> (case-insensitive), newest first
// Records: collection "quotes" (key = the number; a table of its own once the plugin's migrations ran),
// collection "meta" (key "counter": the next number to hand out).

const MAX_TEXT = 500;
const SEARCH_SCAN = 1000;
const SEARCH_SHOW = 3;
// A search answers in one chat line (CyTube cuts at 320): three whole quotes made up to five lines, and any
// user may search once a second. Quotes are shortened to fit, fewer shown if they would be too short.
const SEARCH_REPLY_MAX = 300;
const SEARCH_MIN_TEXT = 20;

function words(command) {
  if (Array.isArray(command.args) && command.args.length > 0) return command.args.map(String);
  return String(command.text ?? "")
    .trim()
    .split(/\s+/)
    .filter(Boolean);
}

/** Text after the first word, with its original spacing. */
function rest(command, list) {
  const text = String(command.text ?? "").trim();
  if (text.toLowerCase().startsWith(`${list[0].toLowerCase()} `)) return text.slice(list[0].length).trim();
  return list.slice(1).join(" ").trim();
}

function show(quote) {
  return `#${quote.id}: "${quote.text}" (added by ${quote.addedBy})`;
}

async function nextId(ctx) {
  const meta = await ctx.storage.get("meta", "counter");
  let id = meta && Number.isInteger(meta.nextId) ? meta.nextId : 1;
  // Never overwrite: skip numbers already taken (e.g. two adds racing on the counter).
  while (await ctx.storage.get("quotes", String(id))) id++;
  await ctx.storage.set("meta", "counter", { nextId: id + 1 });
  return id;
}

async function add(ctx, command, text) {
  if (!text) return "Usage: !quote add <text>";
  if (text.length > MAX_TEXT)
    return `A quote may be at most ${MAX_TEXT} characters (this one has ${text.length}).`;
  const id = await nextId(ctx);
  await ctx.storage.set("quotes", String(id), {
    id,
    text,
    addedBy: String(command.user ?? "someone"),
    addedAt: Math.floor(ctx.now()),
  });
  return `Added quote #${id}.`;
}

async function byId(ctx, raw) {
  const id = Number(raw);
  if (!Number.isInteger(id) || id < 1) return "Usage: !quote <id> (a positive number)";
  const quote = await ctx.storage.get("quotes", String(id));
  return quote ? show(quote) : `There is no quote #${id}.`;
}

async function random(ctx) {
  const meta = await ctx.storage.get("meta", "counter");
  const highest = meta && Number.isInteger(meta.nextId) ? meta.nextId - 1 : 0;
  if (highest < 1) return "No quotes yet: add one with !quote add <text>";
  // Numbers are dense unless quotes were deleted: a few random probes, then a scan as the fallback.
  for (let attempt = 0; attempt < 5; attempt++) {
    const id = 1 + Math.floor(ctx.random() * highest);
    const quote = await ctx.storage.get("quotes", String(id));
    if (quote) return show(quote);
  }
  const all = await ctx.storage.query("quotes", { limit: SEARCH_SCAN });
  if (all.length === 0) return "No quotes yet: add one with !quote add <text>";
  return show(all[Math.floor(ctx.random() * all.length)].value);
}

async function search(ctx, word) {
  if (!word) return "Usage: !quote search <word>";
  const needle = word.toLowerCase();
  const recent = await ctx.storage.query("quotes", {
    limit: SEARCH_SCAN,
    order: { field: "id", direction: "desc" },
  });
  const hits = recent.map((r) => r.value).filter((q) => String(q.text).toLowerCase().includes(needle));
  if (hits.length === 0) return `No quote contains "${word}".`;
  for (let n = Math.min(SEARCH_SHOW, hits.length); n > 0; n--) {
    const more = hits.length > n ? ` (+${hits.length - n} more)` : "";
    const shown = hits.slice(0, n);
    const frame = shown.reduce((sum, q) => sum + show({ ...q, text: "" }).length, 0) + 3 * (n - 1);
    const perText = Math.floor((SEARCH_REPLY_MAX - frame - more.length) / n);
    if (perText >= SEARCH_MIN_TEXT || n === 1)
      return shown.map((q) => show({ ...q, text: shorten(String(q.text), perText) })).join(" | ") + more;
  }
}

function shorten(text, max) {
  return text.length > max ? `${text.slice(0, Math.max(1, max - 1))}…` : text;
}

export default {
  async onCommand(command, ctx) {
    const list = words(command);
    const sub = (list[0] ?? "").toLowerCase();
    if (sub === "add") return add(ctx, command, rest(command, list));
    if (sub === "random" || sub === "") return random(ctx);
    if (sub === "search") return search(ctx, list[1]);
    if (/^#?\d+$/.test(sub)) return byId(ctx, sub.replace("#", ""));
    return "Usage: !quote add <text> | !quote <id> | !quote random | !quote search <word>";
  },
};
