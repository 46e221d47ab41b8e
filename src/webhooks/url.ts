// Which URLs events may go to: parsed when the configuration is read (WEBHOOK_URL, WEBHOOK_ALLOWED_HOSTS)
// and when a job's meta is (`idle-monitor.webhook`), so that reading either never loads the sender.

/**
 * A WEBHOOK_ALLOWED_HOSTS entry in the form URLs are compared in (`host` or `host:port`, lower case,
 * IPv6 in brackets), or undefined when it is not one.
 */
export function allowedHostEntry(raw: string): string | undefined {
  const match = /^((?:[a-z0-9_-]+\.)*[a-z0-9_-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/i.exec(raw.trim());
  if (!match?.[1]) return undefined;
  const port = match[2];
  if (port !== undefined && Number(port) > 65_535) return undefined;
  const host = match[1].toLowerCase();
  if (host.startsWith("[") && !URL.canParse(`http://${host}/`)) return undefined;
  const normalised = host.startsWith("[") ? new URL(`http://${host}/`).hostname : host;
  return port === undefined ? normalised : `${normalised}:${Number(port)}`;
}

/** An http(s) URL to send events to, or undefined. */
export function webhookUrl(raw: string): URL | undefined {
  if (/\s/.test(raw) || !URL.canParse(raw)) return undefined;
  const url = new URL(raw);
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") return undefined;
  return url;
}

const effectivePort = (url: URL) => url.port || (url.protocol === "https:" ? "443" : "80");

/**
 * A job's `idle-monitor.webhook`, checked against the allow-list: the URL to use, or why not. Without
 * the allow-list, anyone who can submit a job could make the monitor call any address.
 */
export function jobWebhookTarget(
  raw: string,
  allowedHosts: readonly string[],
): { ok: true; url: URL } | { ok: false; reason: string } {
  const url = webhookUrl(raw.trim());
  if (!url) {
    return { ok: false, reason: "idle-monitor.webhook is not an http:// or https:// URL; it is not used" };
  }
  const host = url.hostname.toLowerCase();
  const allowed = allowedHosts.some((entry) => entry === host || entry === `${host}:${effectivePort(url)}`);
  if (allowed) return { ok: true, url };
  const list =
    allowedHosts.length === 0
      ? "WEBHOOK_ALLOWED_HOSTS is not set"
      : `WEBHOOK_ALLOWED_HOSTS is ${allowedHosts.join(",")}`;
  return {
    ok: false,
    reason: `idle-monitor.webhook names host ${url.host}, which is not allowed (${list}); it is not used. To allow it, add ${url.host} to WEBHOOK_ALLOWED_HOSTS`,
  };
}
