import { describe, expect, it } from "vitest";
import { natsConnectOptions } from "../../src/core/nats/connect-options.js";
import { thrownRoseyError } from "../support/rosey-error.js";

describe("natsConnectOptions", () => {
  it("passes a URL without credentials on as it is", () => {
    expect(natsConnectOptions("nats://127.0.0.1:4222")).toEqual({ servers: ["nats://127.0.0.1:4222"] });
    expect(natsConnectOptions("localhost:4222")).toEqual({ servers: ["nats://localhost:4222"] });
    expect(natsConnectOptions("nats://[::1]:4222")).toEqual({ servers: ["nats://[::1]:4222"] });
  });

  it("takes user and password out of the URL, percent-decoded", () => {
    expect(natsConnectOptions("nats://rosey:p%40ss%2Cw0rd@127.0.0.1:4222")).toEqual({
      servers: ["nats://127.0.0.1:4222"],
      user: "rosey",
      pass: "p@ss,w0rd",
    });
  });

  it("takes a user part with no password as a token, as nats.go does", () => {
    expect(natsConnectOptions("nats://s3cr3t@nats.example:4222")).toEqual({
      servers: ["nats://nats.example:4222"],
      token: "s3cr3t",
    });
  });

  it("reads a cluster as a comma-separated list sharing one set of credentials", () => {
    expect(natsConnectOptions("nats://u:p@a:4222, nats://b:4222,tls://u:p@c:4222")).toEqual({
      servers: ["nats://a:4222", "nats://b:4222", "tls://c:4222"],
      user: "u",
      pass: "p",
    });
    const err = thrownRoseyError(() => natsConnectOptions("nats://u:p@a:4222,nats://u:other@b:4222"));
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toContain("share one set of credentials");
    expect(err.message).not.toContain("other");
  });

  it("refuses what is not a server URL, without echoing a secret", () => {
    for (const url of ["", " , ", "nats://", "nats://:secret@host:4222", "nats://u:%E0%A4%A@host"]) {
      const err = thrownRoseyError(() => natsConnectOptions(url));
      expect(err.code).toBe("CONFIG_INVALID");
      expect(err.message).not.toContain("secret");
    }
  });
});
