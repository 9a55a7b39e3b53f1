/**
 * Credentials in a URL's userinfo: `scheme://` (or the start, or a list's comma) up to the last `@` before
 * the host ends. The greedy match takes the last `@`, so an unencoded `@` in a password is hidden with it.
 */
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/|^|,)([^/?#]*)@/gi;
const PASSWORD_PARAM = /([?&]password=)[^&#]*/gi;

/**
 * A URL (or a comma-separated list of them, as a NATS cluster is given) as logs and error messages may show
 * it: a password, and a `password` query parameter, become `***`. A user part with no password becomes
 * `***` too, as it may itself be the secret (a NATS token: `nats://TOKEN@host`). Works on text no URL
 * parser accepts, so a malformed URL can be quoted in the error that refuses it.
 * @example redactUrl("nats://rosey:s3cret@127.0.0.1:4222") // "nats://rosey:***@127.0.0.1:4222"
 */
export function redactUrl(url: string): string {
  return url
    .replace(USERINFO, (_match, start: string, userinfo: string) => {
      const colon = userinfo.indexOf(":");
      return `${start}${colon === -1 ? "***" : `${userinfo.slice(0, colon)}:***`}@`;
    })
    .replace(PASSWORD_PARAM, "$1***");
}
