import { randomBytes } from "node:crypto";
import { closeSync, fchmodSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";

/**
 * Writes a file only its owner can read (0600), for files that hold secrets (the embedded nats-server's
 * config and runtime file). The text goes to a new sibling created with O_EXCL, which is then renamed
 * over `file`: a file already there, with whatever mode, is replaced rather than rewritten in place (a
 * write keeps an existing file's mode), and readers never see it half-written. The mode is set with
 * fchmod as well, so it is exactly 0600 whatever the umask.
 */
export function writePrivateFile(file: string, text: string): void {
  const temp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  const fd = openSync(temp, "wx", 0o600);
  try {
    try {
      fchmodSync(fd, 0o600);
      writeFileSync(fd, text);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}
