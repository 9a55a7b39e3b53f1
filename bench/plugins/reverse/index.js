// Bench-only plugin (bench/plugins/): the fifth plugin of the benchmark, written against the normal
// plugin contract like any third-party plugin. !reverse <text> answers the text backwards.

export default {
  onCommand(command) {
    const text = command.text.trim();
    if (text === "") return "Usage: !reverse <text>";
    return [...text].reverse().join("");
  },
};
