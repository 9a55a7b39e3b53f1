// !help lists every command the router knows; !help <command> shows its usage and description.
// Uses only the public contract: the directory comes from rosey.api.commands.list (capability commands.list).

const LIST_TIMEOUT_MS = 2000;
// The directory changes only when plugins start or stop: ask again at most every few seconds.
const LIST_TTL_MS = 5000;
let cached = { commands: [], until: 0 };

async function listCommands(ctx) {
  if (ctx.now() < cached.until) return cached.commands;
  const reply = await ctx.request("rosey.api.commands.list", {}, { timeoutMs: LIST_TIMEOUT_MS });
  const commands = reply && Array.isArray(reply.commands) ? reply.commands : [];
  cached = { commands, until: ctx.now() + LIST_TTL_MS };
  return commands;
}

export default {
  async onCommand(command, ctx) {
    const commands = await listCommands(ctx);
    const wanted = (command.args[0] ?? "").replace(/^[^a-z0-9]+/i, "").toLowerCase();
    if (wanted === "") {
      // Directory order, with help itself last: what to try first comes first.
      const names = [
        ...commands.filter((c) => c.plugin !== ctx.plugin.name),
        ...commands.filter((c) => c.plugin === ctx.plugin.name),
      ].map((c) => c.name);
      return `${names.join(", ")} — !help <command> for usage`;
    }
    const found = commands.find((c) => c.name === wanted || (c.aliases ?? []).includes(wanted));
    if (!found) return `No command !${wanted} — try !help`;
    const usage = found.usage || `!${found.name}`;
    const aliases =
      found.aliases && found.aliases.length > 0
        ? ` (also: ${found.aliases.map((a) => `!${a}`).join(", ")})`
        : "";
    return found.description ? `${usage} — ${found.description}${aliases}` : `${usage}${aliases}`;
  },
};
