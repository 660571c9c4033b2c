// A small client for the parts of Kafka Connect's REST API the relay needs: register a connector, watch its
// state, stop it, and clear its offsets (KIP-875).
import { exponentialBackoff, sleep } from "../retry/backoff.ts";

export type ConnectorState = "RUNNING" | "PAUSED" | "STOPPED" | "FAILED" | "UNASSIGNED" | "RESTARTING";

export interface ConnectorStatus {
  name: string;
  connector: { state: ConnectorState; worker_id: string; trace?: string };
  tasks: Array<{ id: number; state: ConnectorState; worker_id: string; trace?: string }>;
}

export class ConnectRestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ConnectRestError";
  }
}

const REQUEST_TIMEOUT_MS = 30_000;
/** Between calls a busy worker (rebalancing, starting) refused: 250 ms at first, growing to 2 s. */
const busyBackoff = exponentialBackoff({ baseMs: 250, capMs: 2_000, floorMs: 100 });

export class ConnectClient {
  constructor(readonly url: string) {}

  /**
   * Creates the connector or replaces its configuration (PUT is idempotent). Retried while the worker
   * rebalances (409) or is still starting (5xx): both are normal for some seconds after a worker starts.
   */
  async putConnectorConfig(name: string, config: Record<string, string>, timeoutMs = 60_000): Promise<void> {
    await this.retryWhileBusy(timeoutMs, () =>
      this.request("PUT", `/connectors/${encodeURIComponent(name)}/config`, config),
    );
  }

  /** The connector's and its tasks' state, or undefined when no such connector is registered. */
  async status(name: string): Promise<ConnectorStatus | undefined> {
    try {
      return (await this.request("GET", `/connectors/${encodeURIComponent(name)}/status`)) as ConnectorStatus;
    } catch (error) {
      if (error instanceof ConnectRestError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** The connector's configuration as the worker stores it, or undefined when no such connector is registered. */
  async config(name: string): Promise<Record<string, string> | undefined> {
    try {
      return (await this.request("GET", `/connectors/${encodeURIComponent(name)}/config`)) as Record<
        string,
        string
      >;
    } catch (error) {
      if (error instanceof ConnectRestError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Stops the connector and its tasks but keeps its configuration (state STOPPED); resume() starts it again. */
  async stop(name: string): Promise<void> {
    await this.retryWhileBusy(30_000, () =>
      this.request("PUT", `/connectors/${encodeURIComponent(name)}/stop`),
    );
  }

  async resume(name: string): Promise<void> {
    await this.retryWhileBusy(30_000, () =>
      this.request("PUT", `/connectors/${encodeURIComponent(name)}/resume`),
    );
  }

  /** Restarts the connector and its failed tasks, as an operator would after fixing the cause. */
  async restartFailed(name: string): Promise<void> {
    await this.retryWhileBusy(30_000, () =>
      this.request(
        "POST",
        `/connectors/${encodeURIComponent(name)}/restart?includeTasks=true&onlyFailed=true`,
      ),
    );
  }

  /** Forgets the connector's source offsets (it must be STOPPED): its next start begins at the slot. */
  async resetOffsets(name: string): Promise<void> {
    await this.retryWhileBusy(30_000, () =>
      this.request("DELETE", `/connectors/${encodeURIComponent(name)}/offsets`),
    );
  }

  async offsets(
    name: string,
  ): Promise<Array<{ partition: unknown; offset: Record<string, unknown> | null }>> {
    const body = (await this.request("GET", `/connectors/${encodeURIComponent(name)}/offsets`)) as {
      offsets: Array<{ partition: unknown; offset: Record<string, unknown> | null }>;
    };
    return body.offsets;
  }

  /** Removes the connector; a no-op when it does not exist. */
  async delete(name: string): Promise<void> {
    try {
      await this.retryWhileBusy(30_000, () =>
        this.request("DELETE", `/connectors/${encodeURIComponent(name)}`),
      );
    } catch (error) {
      if (!(error instanceof ConnectRestError && error.status === 404)) throw error;
    }
  }

  async connectors(): Promise<string[]> {
    return (await this.request("GET", "/connectors")) as string[];
  }

  /**
   * Waits until the connector and every one of its tasks is RUNNING. Fails at once, with Connect's stack
   * trace, when the connector or a task has FAILED: waiting would not help.
   */
  async waitUntilRunning(name: string, timeoutMs = 60_000): Promise<ConnectorStatus> {
    return this.waitForState(name, "RUNNING", timeoutMs);
  }

  /**
   * Waits until the connector is STOPPED and has no tasks left (its slot is then free). A FAILED connector or
   * task is waited for too: stopping removes it, and a dead task is when the relay is handed back to polling.
   */
  async waitUntilStopped(name: string, timeoutMs = 60_000): Promise<ConnectorStatus> {
    return this.waitForState(name, "STOPPED", timeoutMs);
  }

  private async waitForState(name: string, wanted: "RUNNING" | "STOPPED", timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    let last: ConnectorStatus | undefined;
    for (;;) {
      last = await this.status(name).catch(() => last);
      const failed = last && [last.connector, ...last.tasks].find((part) => part.state === "FAILED");
      if (failed && wanted === "RUNNING") {
        throw new Error(
          `Connector ${name} has FAILED (see its log or GET ${this.url}/connectors/${name}/status):\n${failed.trace ?? "(no trace)"}`,
        );
      }
      if (last?.connector.state === wanted) {
        const tasksDone =
          wanted === "RUNNING"
            ? last.tasks.length > 0 && last.tasks.every((task) => task.state === "RUNNING")
            : last.tasks.length === 0;
        if (tasksDone) return last;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `Connector ${name} was not ${wanted} after ${timeoutMs / 1000}s: ${last ? JSON.stringify(last) : "not registered"}`,
        );
      }
      await sleep(200);
    }
  }

  private async retryWhileBusy<T>(timeoutMs: number, call: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        const busy =
          error instanceof ConnectRestError
            ? error.status === 409 || error.status >= 500
            : isConnectionError(error);
        if (!busy || Date.now() > deadline) throw error;
        await sleep(busyBackoff.delayMs(attempt));
      }
    }
  }

  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers: body === undefined ? {} : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new Error(
        `Kafka Connect at ${this.url} did not answer ${method} ${path}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const text = await response.text();
    if (!response.ok) {
      const message = (() => {
        try {
          return (JSON.parse(text) as { message?: string }).message ?? text;
        } catch {
          return text;
        }
      })();
      throw new ConnectRestError(
        response.status,
        `Kafka Connect at ${this.url} refused ${method} ${path} (${response.status}): ${message}`,
      );
    }
    return text ? JSON.parse(text) : undefined;
  }
}

function isConnectionError(error: unknown): boolean {
  return (
    error instanceof Error && !(error instanceof ConnectRestError) && /did not answer/.test(error.message)
  );
}
