import type { NomadAllocation, NomadTaskEvent, NomadTaskState, StringMap } from "./model.js";

// The task states a node's client reports, with the task events Nomad records on the way
// (allocation-*-mode.http, event-stream.ndjson).

const NS_PER_MS = 1_000_000;

export function taskStatesOf(
  alloc: NomadAllocation,
  state: NomadTaskState["State"],
  options: { failed: boolean; at: number; message: string },
): Record<string, NomadTaskState> {
  const at = new Date(options.at).toISOString();
  const tasks = alloc.Job?.TaskGroups.find((group) => group.Name === alloc.TaskGroup)?.Tasks ?? [];
  return Object.fromEntries(
    tasks.map((task) => {
      const previous = alloc.TaskStates?.[task.Name];
      const taskState: NomadTaskState = {
        State: state,
        Failed: options.failed,
        Restarts: 0,
        LastRestart: null,
        StartedAt: state === "running" ? at : (previous?.StartedAt ?? null),
        FinishedAt: state === "dead" ? at : null,
        Events: [...(previous?.Events ?? []), ...eventsOf(state, options)],
        TaskHandle: null,
      };
      return [task.Name, taskState];
    }),
  );
}

/** A running allocation's tasks told to stop: each task's `Killing` event, its state unchanged. */
export function killingTaskStates(alloc: NomadAllocation, at: number): Record<string, NomadTaskState> {
  const killing = taskEvent(
    "Killing",
    at * NS_PER_MS,
    "Sent interrupt. Waiting 5s before force killing",
    false,
    {
      kill_timeout: "5s",
    },
  );
  return Object.fromEntries(
    Object.entries(alloc.TaskStates ?? {}).map(([task, taskState]) => [
      task,
      { ...taskState, Events: [...taskState.Events, { ...killing, KillTimeout: 5_000_000_000 }] },
    ]),
  );
}

// What a task went through to reach this state: a pending task was received and set up
// (event-stream.ndjson), a running one started, a dead one failed, or terminated and was killed.
function eventsOf(
  state: NomadTaskState["State"],
  options: { failed: boolean; at: number; message: string },
): NomadTaskEvent[] {
  const time = options.at * NS_PER_MS;
  if (state === "pending") {
    const setup = "Building Task Directory";
    return [
      taskEvent("Received", time, options.message, false),
      taskEvent("Task Setup", time, setup, false, { message: setup }),
    ];
  }
  if (state === "running") return [taskEvent("Started", time, options.message, false)];
  if (options.failed) return [taskEvent("Driver Failure", time, options.message, true)];
  const exit = "Docker container exited with non-zero exit code: 137";
  const details = { exit_code: "137", signal: "0", oom_killed: "false", exit_message: exit };
  return [
    {
      ...taskEvent(
        "Terminated",
        time,
        `Exit Code: 137, Exit Message: ${JSON.stringify(exit)}`,
        false,
        details,
      ),
      Message: exit,
      ExitCode: 137,
    },
    taskEvent("Killed", time, options.message, false),
  ];
}

// A task event as Nomad sends it: every field, the unused ones empty (allocation-host-mode.http).
function taskEvent(
  type: string,
  timeNs: number,
  displayMessage: string,
  failsTask: boolean,
  details: StringMap = {},
): NomadTaskEvent {
  return {
    Type: type,
    Time: timeNs,
    Message: details.message ?? "",
    DisplayMessage: displayMessage,
    Details: details,
    FailsTask: failsTask,
    DiskLimit: 0,
    DownloadError: "",
    DriverError: "",
    DriverMessage: "",
    ExitCode: 0,
    FailedSibling: "",
    GenericSource: "",
    KillError: "",
    KillReason: "",
    KillTimeout: 0,
    RestartReason: "",
    SetupError: "",
    Signal: 0,
    StartDelay: 0,
    TaskSignal: "",
    TaskSignalReason: "",
    ValidationError: "",
    VaultError: "",
  };
}
