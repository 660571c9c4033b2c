// Progress of a long command on stderr: a bar with rate and ETA redrawn in place on a terminal, and a plain
// line every PLAIN_EVERY_MS otherwise (a log file, CI), so that a three-minute run is never silent.

/** Where progress goes: stderr by default; isTTY decides between the bar and plain lines. */
export interface ProgressOutput {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export interface ProgressOptions {
  /** What is being done, as the line starts: `verify`, `archive`, `build history`. */
  label: string;
  /** How many units there will be; an estimate is fine (the bar then stops at 99%); none: no bar, no ETA. */
  total?: number;
  /** What is counted: `events` by default. */
  unit?: string;
  output?: ProgressOutput;
  /** Milliseconds, monotonic (tests give their own). */
  now?: () => number;
}

export interface Progress {
  /** Counts `units` more done. */
  advance(units: number): void;
  /** Ends the progress with a summary line (the bar is replaced by it on a terminal). */
  finish(outcome?: string): void;
}

/** A plain line at most this often when stderr is not a terminal. */
export const PLAIN_EVERY_MS = 10_000;
/** The bar is redrawn at most this often. */
const REDRAW_EVERY_MS = 200;
const BAR_WIDTH = 24;

export function startProgress(options: ProgressOptions): Progress {
  const output = options.output ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const unit = options.unit ?? "events";
  const started = now();
  const tty = Boolean(output.isTTY);
  let done = 0;
  let shownAt = started;
  let finished = false;

  const show = () => {
    const state: ProgressState = { done, total: options.total, elapsedMs: now() - started, unit };
    if (tty) {
      const line = `${options.label} ${progressBar(state)} ${progressFigures(state)}`;
      output.write(`\r${line.slice(0, (output.columns ?? 120) - 1)}\u001b[K`);
    } else output.write(`${options.label}: ${progressFigures(state)}\n`);
  };

  return {
    advance(units) {
      if (finished) return;
      done += units;
      const at = now();
      if (at - shownAt < (tty ? REDRAW_EVERY_MS : PLAIN_EVERY_MS)) return;
      shownAt = at;
      show();
    },
    finish(outcome = "done") {
      if (finished) return;
      finished = true;
      const elapsedMs = now() - started;
      const summary = `${options.label}: ${outcome}, ${count(done)} ${unit} in ${duration(elapsedMs)} (${rate(done, elapsedMs)} ${unit}/s)`;
      output.write(tty ? `\r${summary}\u001b[K\n` : `${summary}\n`);
    },
  };
}

export interface ProgressState {
  done: number;
  total: number | undefined;
  elapsedMs: number;
  unit: string;
}

/** `[#########...............]  38%`; an estimated total that is passed stops at 99% until the end. */
export function progressBar(state: ProgressState): string {
  const fraction = fractionDone(state);
  if (fraction === null) return "";
  const filled = Math.round(fraction * BAR_WIDTH);
  return `[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%`;
}

/** `380,000 / 1,000,000 events, 12,500 events/s, ETA 50 s` (no total: the count and the rate only). */
export function progressFigures(state: ProgressState): string {
  const { done, total, elapsedMs, unit } = state;
  const perSecond = rate(done, elapsedMs);
  if (total === undefined) return `${count(done)} ${unit}, ${perSecond} ${unit}/s`;
  const left = Math.max(total - done, 0);
  const eta = done > 0 && left > 0 ? duration((left / done) * elapsedMs) : "-";
  return `${count(done)} / ${count(total)} ${unit}, ${perSecond} ${unit}/s, ETA ${eta}`;
}

function fractionDone({ done, total }: ProgressState): number | null {
  if (total === undefined) return null;
  if (total <= 0) return 1;
  return Math.min(done / total, 0.99);
}

function count(units: number): string {
  return units.toLocaleString("en");
}

function rate(units: number, elapsedMs: number): string {
  return elapsedMs > 0 ? count(Math.round(units / (elapsedMs / 1000))) : "-";
}

/** `45 s`, `3 min 05 s`, `1 h 02 min`. */
export function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(seconds % 60).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}
