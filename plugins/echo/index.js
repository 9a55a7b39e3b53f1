// !echo <text> repeats the text, exactly as typed after the command word. Its manifest gives it a cooldown:
// it repeats whatever anyone types, so without one every line a user sent became a line from the bot.

const MAX_LENGTH = 500;

export default {
  onCommand(command) {
    const text = command.text.trim();
    if (text === "") return "Usage: !echo <text>";
    return text.length > MAX_LENGTH ? `${text.slice(0, MAX_LENGTH)}…` : text;
  },
};
