import type { NomadError } from "../model/nomad.js";

/**
 * A refused read that explains an empty list: Nomad leaves out of a list what the token may not list,
 * and lists nothing to a request without a token on a cluster with ACLs (its anonymous token), so the
 * CLI reads one path of the prefix to tell "nothing there" from "not allowed to see" — and says which.
 */
export function refusedRead(
  error: NomadError,
  token: string | undefined,
  where: string,
  policy: string,
): Error {
  const who =
    token === undefined
      ? `NOMAD_TOKEN is not set, and Nomad shows ${where} to no request without a token (the cluster has ACLs). Set NOMAD_TOKEN to a token with`
      : `this token may not read ${where}; it needs`;
  return new Error(`${error.message}: ${who} ${policy}`);
}
