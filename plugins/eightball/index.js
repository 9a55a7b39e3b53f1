// !8ball <question> gives one of the classic 20 answers of the Magic 8-Ball, picked with ctx.random().

export const ANSWERS = [
  "It is certain.",
  "It is decidedly so.",
  "Without a doubt.",
  "Yes definitely.",
  "You may rely on it.",
  "As I see it, yes.",
  "Most likely.",
  "Outlook good.",
  "Yes.",
  "Signs point to yes.",
  "Reply hazy, try again.",
  "Ask again later.",
  "Better not tell you now.",
  "Cannot predict now.",
  "Concentrate and ask again.",
  "Don't count on it.",
  "My reply is no.",
  "My sources say no.",
  "Outlook not so good.",
  "Very doubtful.",
];

export default {
  onCommand(command, ctx) {
    if (command.text.trim() === "") return "Ask me a yes/no question: !8ball will it rain today?";
    const index = Math.min(ANSWERS.length - 1, Math.floor(ctx.random() * ANSWERS.length));
    return `🎱 ${command.user}: ${ANSWERS[index]}`;
  },
};
