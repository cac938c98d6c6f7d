import Foundation
import Model

/// A Slurm job array for a sweep: one array task per manifest run, R ranks per task.
///
/// Each task finds its run by $SLURM_ARRAY_TASK_ID, exits at once when the run's metrics.json
/// exists (so resubmitting the same script resumes a sweep), otherwise launches
/// `lpft-mpi train ... --out SWEEPDIR/runs/<id> --resume` over the allocation's ranks with
/// mpirun (OpenMPI reads the allocation) or `srun --mpi=pmix`, appends the output to
/// logs/<id>.log and writes the exit status to logs/<id>.exit.
///
/// Preemption and time limits: the script asks Slurm for SIGUSR1 `stopSignalSeconds` before
/// the end (`--signal=B:USR1@S`, to the batch shell, which forwards it to the launcher and so
/// to every rank) and is `--requeue`-able. A run that checkpoints on the signal exits with
/// StopRequest.exitCode; the script then appends to logs/<id>.requeues and requeues its own
/// array task (`scontrol requeue JOB_TASK`), which continues with --resume.
public struct SlurmScript: Sendable {
    /// How the ranks start inside the allocation.
    public enum Launcher: String, Sendable, CaseIterable {
        case mpirun, srun
    }

    public var ranks: Int
    /// At most this many array tasks at once (`%K`); nil: Slurm's own limit.
    public var maxConcurrent: Int?
    public var cpusPerTask: Int
    public var partition: String?
    /// Slurm time limit per run, e.g. 2:00:00.
    public var time: String?
    public var launcher: Launcher
    public var jobName: String
    public var keepCheckpoints: Bool
    /// Seconds before the time limit at which Slurm sends SIGUSR1 (checkpoint and requeue).
    public var stopSignalSeconds: Int

    public init(ranks: Int, maxConcurrent: Int? = nil, cpusPerTask: Int = 1, partition: String? = nil,
                time: String? = nil, launcher: Launcher = .mpirun, jobName: String = "lpft-sweep",
                keepCheckpoints: Bool = false, stopSignalSeconds: Int = 120) {
        self.stopSignalSeconds = stopSignalSeconds
        self.ranks = ranks
        self.maxConcurrent = maxConcurrent
        self.cpusPerTask = cpusPerTask
        self.partition = partition
        self.time = time
        self.launcher = launcher
        self.jobName = jobName
        self.keepCheckpoints = keepCheckpoints
    }

    public func validate() throws {
        guard ranks >= 1 else { throw SweepError.invalidOption("--ranks must be at least 1 (got \(ranks))") }
        guard (1...65535).contains(stopSignalSeconds) else {
            throw SweepError.invalidOption("--signal-seconds must be from 1 to 65535 (got \(stopSignalSeconds))")
        }
        guard cpusPerTask >= 1 else { throw SweepError.invalidOption("--cpus-per-task must be at least 1 (got \(cpusPerTask))") }
        if let maxConcurrent, maxConcurrent < 1 {
            throw SweepError.invalidOption("--max-concurrent must be at least 1 (got \(maxConcurrent))")
        }
        for (flag, value) in [("--partition", partition), ("--time", time), ("--job-name", jobName)] {
            if let value, value.isEmpty || value.contains(where: { $0.isWhitespace || $0 == "'" || $0 == "\"" }) {
                throw SweepError.invalidOption("\(flag) '\(value)' must be one word without quotes")
            }
        }
    }

    /// The script text for `runs` of `sweep`, run by `binary`.
    public func render(runs: [SweepRun], sweep: SweepDirectory, binary: URL) throws -> String {
        try validate()
        guard !runs.isEmpty else { throw SweepError.invalidOption("the sweep has no runs") }
        let q = Self.shellQuote
        var lines = [
            "#!/bin/bash",
            "# \(runs.count) run(s) of the sweep \(sweep.url.path): one array task per line of manifest.jsonl.",
            "# Written by `lpft-mpi sweep run --scheduler slurm`; submit with: sbatch \(sweep.scriptURL.path)",
            "# A task whose run is complete (runs/<id>/metrics.json) exits at once: resubmitting resumes the sweep.",
            "#SBATCH --job-name=\(jobName)",
            "#SBATCH --array=0-\(runs.count - 1)" + (maxConcurrent.map { "%\($0)" } ?? ""),
            "#SBATCH --ntasks=\(ranks)",
            "#SBATCH --cpus-per-task=\(cpusPerTask)",
            "# SIGUSR1 \(stopSignalSeconds) s before the time limit: the run checkpoints, exits \(StopRequest.exitCode), and the task is requeued.",
            "#SBATCH --signal=B:USR1@\(stopSignalSeconds)",
            "#SBATCH --requeue",
        ]
        if let time { lines.append("#SBATCH --time=\(time)") }
        if let partition { lines.append("#SBATCH --partition=\(partition)") }
        lines += [
            "#SBATCH --output=\(sweep.logsURL.path)/slurm-%A_%a.out",
            "set -uo pipefail",
            "sweep=\(q(sweep.url.path))",
            "binary=\(q(binary.path))",
            "# mpirun refuses to run as root without these; each rank gets its allocated cores as BLAS threads.",
            "export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
            "export OPENBLAS_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}",
            "case \"${SLURM_ARRAY_TASK_ID:?submit this script with sbatch}\" in",
        ]
        for (index, run) in runs.enumerated() {
            lines.append("  \(index)) id=\(q(run.id)); args=(\(run.arguments.map(q).joined(separator: " "))) ;;")
        }
        lines += [
            "  *) echo \"no run $SLURM_ARRAY_TASK_ID in this sweep (0-\(runs.count - 1))\" >&2; exit 2 ;;",
            "esac",
            "run=\"$sweep/runs/$id\"; log=\"$sweep/logs/$id.log\"",
            "if [[ -f \"$run/metrics.json\" ]]; then echo \"skip $id: complete\"; exit 0; fi",
            "mkdir -p \"$sweep/logs\"",
            "echo \"== $id: job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname), $SLURM_NTASKS rank(s), $(date -Is)\" >>\"$log\"",
        ]
        let bind = cpusPerTask > 1 ? " --bind-to none" : ""
        // In the background, so that the shell can forward Slurm's signal while it waits.
        switch launcher {
        case .mpirun:
            lines.append("mpirun -np \"$SLURM_NTASKS\"\(bind) -x OPENBLAS_NUM_THREADS \"$binary\" train \"${args[@]}\" --out \"$run\" --resume >>\"$log\" 2>&1 &")
        case .srun:
            lines.append("srun --mpi=pmix \"$binary\" train \"${args[@]}\" --out \"$run\" --resume >>\"$log\" 2>&1 &")
        }
        lines += [
            "child=$!",
            "trap 'echo \"== $id: stop signal $(date -Is); forwarding SIGUSR1 to the ranks\" >>\"$log\"; kill -USR1 \"$child\" 2>/dev/null' USR1 TERM",
            "# wait returns early (> 128) when a trapped signal arrives: wait again until the launcher exits.",
            "while :; do wait \"$child\"; status=$?; kill -0 \"$child\" 2>/dev/null || break; done",
            "wait \"$child\" 2>/dev/null; last=$?; [[ $last -ne 127 ]] && status=$last",
            "echo \"$status\" >\"$sweep/logs/$id.exit\"",
            "if [[ $status -eq \(StopRequest.exitCode) ]]; then",
            "  echo \"$(date -Is) ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\" >>\"$sweep/logs/$id.requeues\"",
            "  echo \"requeue $id: checkpointed on a stop signal\"",
            "  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"",
            "  exit 0",
            "fi",
            "if [[ $status -eq 0 && -f \"$run/metrics.json\" ]]; then",
            keepCheckpoints ? "  echo \"done $id\"" : "  rm -rf \"$run/checkpoints\"; echo \"done $id\"",
            "else",
            "  echo \"FAILED $id (exit $status); log: $log\" >&2",
            "fi",
            "exit $status",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes sweep.sbatch (executable) and returns its URL.
    @discardableResult
    public func write(runs: [SweepRun], sweep: SweepDirectory, binary: URL) throws -> URL {
        try FileOperations.createDirectory(sweep.logsURL)
        try FileOperations.writeAtomically(Data(try render(runs: runs, sweep: sweep, binary: binary).utf8), to: sweep.scriptURL)
        chmod(sweep.scriptURL.path, 0o755)
        return sweep.scriptURL
    }

    /// Submits a script with `sbatch --parsable`; returns the job id.
    public static func submit(_ script: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sbatch", "--parsable", script.path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch {
            throw SweepError.launchFailed("cannot run sbatch: \(error.localizedDescription); is Slurm installed (scripts/slurm-local.sh start for a local one)?")
        }
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let id = output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard process.terminationStatus == 0, !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw SweepError.launchFailed("sbatch \(script.path) failed (exit \(process.terminationStatus)): \(errors.trimmingCharacters(in: .whitespacesAndNewlines))\(output)")
        }
        return id
    }

    /// 'text' for bash (single quotes; a quote inside becomes '\'').
    public static func shellQuote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
