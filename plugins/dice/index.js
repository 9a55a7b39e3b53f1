// !roll NdM[+K] rolls N dice of M sides plus an optional modifier K, using ctx.random() (the sandbox
// offers no other randomness). Replies like "console rolled 2d6: [3, 5] = 8".

export const LIMITS = { maxDice: 100, minSides: 2, maxSides: 1000, maxModifier: 1000 };
const NOTATION = /^(\d*)d(\d+)(?:([+-])(\d+))?$/i;
const USAGE = "use NdM[+K], e.g. !roll 2d6 or !roll d20+3";
// A refusal quotes at most this many digits: a 300-digit count quoted whole made the answer two chat lines.
const QUOTED_DIGITS = 12;
const quoted = (digits) => (digits.length > QUOTED_DIGITS ? `${digits.slice(0, QUOTED_DIGITS)}…` : digits);

/** Parses dice notation; returns { dice, sides, modifier } or { error } with a message for the chat. */
export function parseNotation(input) {
  const text = (input ?? "").replace(/\s+/g, "");
  if (text === "") return { dice: 1, sides: 6, modifier: 0 };
  const match = NOTATION.exec(text);
  if (!match) return { error: `I can't read '${input.trim().slice(0, 40)}' as dice: ${USAGE}` };
  const dice = match[1] === "" ? 1 : Number(match[1]);
  const sides = Number(match[2]);
  const modifier = match[4] === undefined ? 0 : Number(match[4]) * (match[3] === "-" ? -1 : 1);
  if (dice < 1 || dice > LIMITS.maxDice)
    return { error: `The number of dice must be 1..${LIMITS.maxDice}: got ${quoted(match[1])}` };
  if (sides < LIMITS.minSides || sides > LIMITS.maxSides) {
    return { error: `Dice must have ${LIMITS.minSides}..${LIMITS.maxSides} sides: got ${quoted(match[2])}` };
  }
  if (Math.abs(modifier) > LIMITS.maxModifier) {
    return {
      error: `The modifier must be between -${LIMITS.maxModifier} and +${LIMITS.maxModifier}: got ${match[3]}${quoted(match[4])}`,
    };
  }
  return { dice, sides, modifier };
}

export function formatNotation({ dice, sides, modifier }) {
  return `${dice}d${sides}${modifier > 0 ? `+${modifier}` : modifier < 0 ? `${modifier}` : ""}`;
}

/** One die from a random number in [0, 1). */
function rollDie(sides, random) {
  const r = random();
  if (typeof r !== "number" || !(r >= 0 && r < 1))
    throw new Error("ctx.random() must return a number in [0, 1)");
  return Math.floor(r * sides) + 1;
}

export default {
  onCommand(command, ctx) {
    const parsed = parseNotation(command.text);
    if (parsed.error) return parsed.error;
    const rolls = [];
    for (let i = 0; i < parsed.dice; i++) rolls.push(rollDie(parsed.sides, () => ctx.random()));
    const sum = rolls.reduce((a, b) => a + b, 0);
    const total = sum + parsed.modifier;
    const mod =
      parsed.modifier > 0 ? ` + ${parsed.modifier}` : parsed.modifier < 0 ? ` - ${-parsed.modifier}` : "";
    return `${command.user} rolled ${formatNotation(parsed)}: [${rolls.join(", ")}]${mod} = ${total}`;
  },
};
