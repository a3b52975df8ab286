/**
 * Where an alarm may send its notifications: http(s) URLs whose host is not loopback,
 * private, link-local or otherwise internal, and log:// (a log line). A deployment that
 * must notify hosts on its own network sets ALARM_ALLOW_PRIVATE_TARGETS=true (local
 * development and the tests do); docs/api/alarms.md. Host names are taken at their word:
 * a Worker cannot resolve them first, and Cloudflare's network does not route to
 * private addresses anyway.
 */

export type ActionKind = "http" | "log";

const INTERNAL_NAMES =
  /^(localhost|localhost\.localdomain|ip6-localhost|ip6-loopback)$|\.(localhost|local|internal|localdomain|home\.arpa)$/i;

function ipv4(host: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : null;
}

function privateV4([a, b]: number[]): boolean {
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19)) ||
    a >= 224
  );
}

function privateV6(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "::" || h === "::1") return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (mapped) {
    const v4 = ipv4(mapped[1]);
    return v4 === null || privateV4(v4);
  }
  // ::ffff:7f00:1 and other hex forms of mapped addresses: refuse the whole mapped range.
  if (h.startsWith("::ffff:")) return true;
  return /^f[cd]/.test(h) || /^fe[89ab]/.test(h) || /^ff/.test(h);
}

/** Whether the URL's host is loopback, private, link-local, multicast or an internal name. */
export function isInternalHost(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (host.includes(":")) return privateV6(host);
  const v4 = ipv4(host);
  if (v4) return privateV4(v4);
  // Numeric forms URL did not normalise (it does for 0x7f.1 and 2130706433) would be odd names: refuse.
  if (/^[\d.]+$/.test(host) || /^0x/i.test(host)) return true;
  return INTERNAL_NAMES.test(host);
}

export const allowPrivateTargets = (env: Env) =>
  /^(1|true|yes|on)$/i.test(
    ((env as unknown as { ALARM_ALLOW_PRIVATE_TARGETS?: string }).ALARM_ALLOW_PRIVATE_TARGETS ?? "").trim(),
  );

/** The kind of an action, or why it is refused (Aodh's "Unsupported action" sentence, and ours for internal hosts). */
export function checkAction(action: string, allowPrivate: boolean): { kind: ActionKind } | { refused: string } {
  let url: URL;
  try {
    url = new URL(action);
  } catch {
    return { refused: `Unable to parse action ${action}` };
  }
  if (url.protocol === "log:") return { kind: "log" };
  if (url.protocol !== "http:" && url.protocol !== "https:") return { refused: `Unsupported action ${action}` };
  if (url.username || url.password)
    return { refused: `Unsupported action ${action}: credentials in the URL are not kept` };
  if (!allowPrivate && isInternalHost(url)) {
    return {
      refused: `Unsupported action ${action}: the host is loopback, private or internal (allowed only where ALARM_ALLOW_PRIVATE_TARGETS is set)`,
    };
  }
  return { kind: "http" };
}
