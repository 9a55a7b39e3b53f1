import { describe, expect, it } from "vitest";
import { redactUrl } from "../../src/core/redact-url.js";

describe("redactUrl", () => {
  it("hides a password and keeps the user, host and path", () => {
    expect(redactUrl("nats://rosey:s3cret@127.0.0.1:4222")).toBe("nats://rosey:***@127.0.0.1:4222");
    expect(redactUrl("mysql://root:pw@db/rosey")).toBe("mysql://root:***@db/rosey");
  });

  it("hides a user part with no password: it may be a token", () => {
    expect(redactUrl("nats://t0ken@host:4222")).toBe("nats://***@host:4222");
    expect(redactUrl("t0ken@host:4222")).toBe("***@host:4222");
  });

  it("hides an unencoded @ in a password with it", () => {
    expect(redactUrl("postgres://u:p@ss@host/db")).toBe("postgres://u:***@host/db");
  });

  it("hides the credentials of every server of a list, and a password query parameter", () => {
    expect(redactUrl("nats://a:b@h1:4222,nats://t@h2:4222,nats://h3:4222")).toBe(
      "nats://a:***@h1:4222,nats://***@h2:4222,nats://h3:4222",
    );
    expect(redactUrl("postgres://db/rosey?user=u&password=pw&sslmode=require")).toBe(
      "postgres://db/rosey?user=u&password=***&sslmode=require",
    );
  });

  it("leaves a URL without credentials, and an @ outside the host part, as they are", () => {
    for (const url of ["nats://127.0.0.1:4222", "host:4222", "postgres://host/db?app=a@b", "not a url"])
      expect(redactUrl(url)).toBe(url);
  });
});
