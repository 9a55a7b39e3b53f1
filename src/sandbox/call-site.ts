/**
 * A failed `ctx.request` or `ctx.storage` call is settled when the main thread answers, on a stack with none
 * of the plugin's frames, so an error made then could not say where the plugin asked. The error is made at
 * the call instead, while the plugin's frames are on the stack, and given its message when the answer comes:
 * V8 writes the stack text on first read, with the message the error has by then.
 */

export type CallSiteError = Error & { code?: string };

/** Call synchronously from the ctx method the plugin called, before any `await`. */
export function callSite(): CallSiteError {
  return new Error();
}

/** The call site's error, now saying what went wrong. */
export function failedAt(site: CallSiteError, message: string, code: string): CallSiteError {
  site.message = message;
  site.code = code;
  return site;
}
