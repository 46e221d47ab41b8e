import { formatDuration } from "../duration.js";
import { shortId } from "../model/allocation.js";
import type { GroupStatus, StatusWait } from "../status/types.js";

/** Columns glued by two spaces, as the `nomad` CLI's tables (columnize) are. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  return [header, ...rows]
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

const duration = (ms: number | undefined) => (ms === undefined ? "-" : formatDuration(ms));

export function describeStatusWait(wait: StatusWait): string {
  switch (wait.kind) {
    case "active":
      return `active on ${wait.nodes.join(", ")}`;
    case "unknown":
      return `unknown on ${wait.nodes.join(", ")}`;
    case "node-awaited":
      return `node ${wait.node} awaited (${wait.why})`;
    case "partly-opted-in":
      return `partly opted in (group ${wait.groups.join(", ")} not)`;
    case "invalid-meta":
      return `invalid meta (group ${wait.groups.join(", ")})`;
    case "other-group":
      return `group ${wait.group} ${wait.why}`;
    case "not-opted-in":
      return "no longer opted in";
    case "job-stopped":
      return "job stopped";
    case "job-not-found":
      return "job not found";
    case "job-unreadable":
      return "job not readable with this token";
  }
}

function timeToAction(row: GroupStatus): string {
  if (row.waits.length > 0) return `waits: ${row.waits.map(describeStatusWait).join("; ")}`;
  if (row.timeToActionMs === undefined) return "-";
  return row.timeToActionMs === 0 ? "due now" : formatDuration(row.timeToActionMs);
}

function lastAction(row: GroupStatus): string {
  if (!row.lastAction) return "-";
  const { node, action, agoMs } = row.lastAction;
  const name = row.allocations.find((alloc) => alloc.nodeId === node)?.node ?? shortId(node);
  return `${action} by ${name} ${formatDuration(agoMs)} ago`;
}

const GROUP_COLUMNS = [
  "Group",
  "Action",
  "Nodes",
  "State",
  "Idle For",
  "Timeout",
  "Time to Action",
  "Last Action",
];

function groupCells(row: GroupStatus): string[] {
  return [
    row.group,
    row.action ?? "-",
    row.nodes.join(",") || "-",
    row.state,
    duration(row.idleForMs),
    duration(row.timeoutMs),
    timeToAction(row),
    lastAction(row),
  ];
}

/** `status`: one line per watched group. */
export function renderStatusTable(rows: readonly GroupStatus[]): string {
  if (rows.length === 0) return "No watched jobs";
  return table(
    ["Namespace", "Job", ...GROUP_COLUMNS],
    rows.map((row) => [row.namespace, row.job, ...groupCells(row)]),
  );
}

/** `status <job>`: the job's groups, then one line per allocation and node with its last reading. */
export function renderJobStatus(rows: readonly GroupStatus[]): string {
  const blocks: string[] = [];
  const byJob = new Map<string, GroupStatus[]>();
  for (const row of rows)
    byJob.set(`${row.namespace}/${row.job}`, [...(byJob.get(`${row.namespace}/${row.job}`) ?? []), row]);
  for (const groups of byJob.values()) {
    const [first] = groups;
    if (!first) continue;
    const allocations = groups.flatMap((group) =>
      group.allocations.map((alloc) => [
        shortId(alloc.allocId),
        alloc.node,
        group.group,
        alloc.clientStatus ?? "-",
        alloc.state,
        duration(alloc.idleForMs),
        alloc.bytesSinceActive === undefined ? "-" : `${alloc.bytesSinceActive} B`,
        alloc.reportAgeMs === undefined ? "-" : `${formatDuration(alloc.reportAgeMs)} ago`,
      ]),
    );
    blocks.push(
      [
        `ID        = ${first.job}`,
        `Namespace = ${first.namespace}`,
        "",
        "Task Groups",
        table(GROUP_COLUMNS, groups.map(groupCells)),
        "",
        "Allocations",
        allocations.length === 0
          ? "No live allocations"
          : table(
              ["ID", "Node", "Group", "Status", "Reading", "Idle For", "Since Active", "Reported"],
              allocations,
            ),
      ].join("\n"),
    );
  }
  return blocks.join("\n\n");
}

/** `--json`: the computed rows as they are (durations in ms), each wait also said in words. */
export function renderStatusJson(
  rows: readonly GroupStatus[],
  clock: { now: number; ageClock: string },
): string {
  const groups = rows.map((row) => ({
    ...row,
    waits: row.waits.map((wait) => ({ ...wait, text: describeStatusWait(wait) })),
  }));
  return JSON.stringify(
    { now: new Date(clock.now).toISOString(), ageClock: clock.ageClock, groups },
    null,
    2,
  );
}
