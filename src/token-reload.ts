import { NomadError } from "./model/nomad.js";
import type { TokenSource } from "./ports.js";

export interface TokenReloadHooks {
  /** Hears the refusal, before the token is read again. */
  refused?(error: NomadError): void;
  /** The token could not be read again: the call is tried once more with the token in hand. */
  reloadFailed?(error: unknown): void;
  /** Once it aborts, nothing is tried again (shutdown began). */
  signal?: AbortSignal;
}

/** Whether Nomad refused the token: the one failure that reading the token again may cure. */
export function isRefusal(error: unknown): error is NomadError {
  return error instanceof NomadError && error.kind === "auth";
}

/**
 * The one rule for a token Nomad refuses: read it again (it may have been rotated in its Variable; callers
 * that ask at once share one read) and try once more with it. A second refusal is thrown like any other
 * error, and so is the first when the signal aborted meanwhile.
 */
export async function withTokenReload<T>(
  token: Pick<TokenSource, "load">,
  call: () => Promise<T>,
  hooks: TokenReloadHooks = {},
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!isRefusal(error)) throw error;
    hooks.refused?.(error);
    await token.load().catch((reloadError: unknown) => hooks.reloadFailed?.(reloadError));
    if (hooks.signal?.aborted) throw error;
    return call();
  }
}
