import { io, type Socket } from "socket.io-client";
import { afterEach, describe, expect, it } from "vitest";
import { type CytubeEmulator, startCytubeEmulator } from "../fixtures/cytube-emulator/index.js";

/** The emulator itself, checked against cytube-protocol.md with a bare socket.io client. */
describe("CyTube emulator follows the protocol reference", () => {
  let emu: CytubeEmulator;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.disconnect();
    await emu?.close();
  });

  async function client(ip = "127.0.0.2"): Promise<{ socket: Socket; frames: Array<[string, unknown]> }> {
    const socket = io(emu.url, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      extraHeaders: { "X-Forwarded-For": ip },
    });
    sockets.push(socket);
    const frames: Array<[string, unknown]> = [];
    socket.onAny((event: string, payload: unknown) => frames.push([event, payload]));
    await new Promise<void>((resolve, reject) => {
      socket.on("connect", () => resolve());
      socket.on("connect_error", reject);
    });
    return { socket, frames };
  }
  const events = (frames: Array<[string, unknown]>) => frames.map(([e]) => e);

  it("discovery: a server list for valid names, 404 with the reference's message otherwise", async () => {
    emu = await startCytubeEmulator({ connectionLimit: false });
    const ok = await fetch(`${emu.url}/socketconfig/abc.json`);
    expect(await ok.json()).toEqual({ servers: [{ url: emu.url, secure: false }] });
    const bad = await fetch(`${emu.url}/socketconfig/bad%20name.json`);
    expect(bad.status).toBe(404);
    expect(await bad.json()).toEqual({ error: 'Channel "bad name" does not exist.' });
  });

  it("join burst then guest login in the reference's order; history replayed before our addUser", async () => {
    emu = await startCytubeEmulator({ connectionLimit: false, history: [{ username: "old", msg: "hi" }] });
    const { socket, frames } = await client();
    socket.emit("joinChannel", { name: "Chan" });
    socket.emit("login", { name: "guest1" });
    await expect.poll(() => events(frames).includes("addUser")).toBe(true);
    const seq = events(frames);
    expect(seq.slice(0, 5)).toEqual(["rank", "setPermissions", "setPlaylistLocked", "emoteList", "chatMsg"]);
    expect(seq.indexOf("userlist")).toBeLessThan(seq.indexOf("login"));
    expect(seq.slice(-3)).toEqual(["rank", "login", "addUser"]);
    expect(frames.find(([e]) => e === "login")![1]).toEqual({ success: true, name: "guest1", guest: true });
  });

  it("chat: escaped, cut to 320, flood limiter answers cooldown 100 after a burst of 20", async () => {
    emu = await startCytubeEmulator({ connectionLimit: false });
    const { socket, frames } = await client();
    socket.emit("login", { name: "g" });
    socket.emit("joinChannel", { name: "c" });
    await expect.poll(() => events(frames).includes("addUser")).toBe(true);
    socket.emit("chatMsg", { msg: `<b>x</b> & ${"y".repeat(400)}` });
    for (let i = 0; i < 24; i++) socket.emit("chatMsg", { msg: `m${i}` });
    await expect.poll(() => frames.filter(([e]) => e === "cooldown").length).toBe(5);
    const chats = frames.filter(([e]) => e === "chatMsg").map(([, p]) => (p as { msg: string }).msg);
    expect(chats).toHaveLength(20);
    expect(chats[0]!.startsWith("&lt;b&gt;x&lt;/b&gt; &amp; yyy")).toBe(true);
    expect(frames.find(([e]) => e === "cooldown")![1]).toBe(100);
  });

  it("privileged frames without the rank kick the socket; unregistered channels refuse rawfile queues", async () => {
    emu = await startCytubeEmulator({ connectionLimit: false, registered: false });
    const { socket, frames } = await client();
    socket.emit("login", { name: "g" });
    socket.emit("joinChannel", { name: "c" });
    await expect.poll(() => events(frames).includes("addUser")).toBe(true);
    socket.emit("queue", { id: "https://x/y.json", type: "cm", pos: "end" });
    await expect
      .poll(() => frames.find(([e]) => e === "queueFail")?.[1])
      .toMatchObject({ msg: "You don't have permission to add raw video files" });
    const gone = new Promise<string>((r) => socket.on("disconnect", r));
    socket.emit("setOptions", { pagetitle: "x" });
    expect(await gone).toBe("io server disconnect");
    expect(frames.find(([e]) => e === "kick")![1]).toEqual({
      reason: "Attempted setOptions as a non-moderator",
    });
  });

  it("login failures carry the reference's messages; the per-IP connection bucket refuses the 6th quick connect", async () => {
    emu = await startCytubeEmulator({ accounts: { BotOwner: { password: "pw", rank: 4 } } });
    const { socket, frames } = await client("127.0.0.9");
    socket.emit("login", { name: "b0tOwner" });
    await expect
      .poll(() => frames.find(([e]) => e === "login")?.[1])
      .toEqual({ success: false, error: "That username is registered." });
    for (let i = 0; i < 4; i++) await client("127.0.0.9");
    await expect(client("127.0.0.9")).rejects.toThrow("Rate limit exceeded");
  });
});
