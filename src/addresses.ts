// The forms of the addresses the configuration takes (NOMAD_ADDR, DOCKER_HOST, HTTP_LISTEN).

/** `host:port` (IPv6 in brackets) to listen on, or null when it is not one. */
export function listenAddress(raw: string): { host: string; port: number } | null {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(raw);
  const port = Number(match?.[2]);
  // Port 0 asks the system for a free one (tests); the log line says which.
  if (!match?.[1] || !Number.isInteger(port) || port < 0 || port > 65_535) return null;
  return { host: match[1].replace(/^\[|\]$/g, ""), port };
}

/** A URL a client can connect to (a host, a port that exists, no path), or a unix socket's absolute path. */
export function usableAddress(address: string, schemes: readonly string[]): boolean {
  const raw = address.replace(/\/$/, "");
  const scheme = /^[a-z]+:/.exec(raw)?.[0];
  if (!scheme || !schemes.includes(scheme)) return false;
  if (scheme === "unix:") return /^unix:\/\/\/\S*[^/\s]$/.test(raw);
  if (!/^[a-z]+:\/\/[^/\s]+$/.test(raw)) return false;
  // WHATWG URL parsing refuses ports above 65535; `tcp:` is parsed as http.
  const url = URL.canParse(raw.replace(/^tcp:/, "http:"))
    ? new URL(raw.replace(/^tcp:/, "http:"))
    : undefined;
  return url !== undefined && url.hostname !== "";
}
