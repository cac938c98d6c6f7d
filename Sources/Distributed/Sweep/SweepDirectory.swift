import Foundation
import Model

/// A sweep's folder:
///
///     SWEEPDIR/manifest.jsonl      one run per line (SweepRun), written by `sweep plan`
///     SWEEPDIR/grid.<ext>          a copy of the grid file it came from
///     SWEEPDIR/runs/<id>/          each run's `train --out` (complete iff metrics.json exists)
///     SWEEPDIR/logs/<id>.log       each run's output (every attempt appended)
///     SWEEPDIR/logs/<id>.exit      exit status of the run's last attempt
///     SWEEPDIR/logs/<id>.requeues  one line per time a stop signal checkpointed the run and
///                                  its Slurm task was requeued
///     SWEEPDIR/sweep.sbatch        the Slurm array script (`sweep run --scheduler slurm`)
public struct SweepDirectory: Sendable {
    public let url: URL

    public init(_ url: URL) { self.url = url.standardizedFileURL }

    public var manifestURL: URL { url.appendingPathComponent("manifest.jsonl") }
    public var scriptURL: URL { url.appendingPathComponent("sweep.sbatch") }
    public var logsURL: URL { url.appendingPathComponent("logs") }
    public func runDirectory(_ id: String) -> URL { url.appendingPathComponent("runs").appendingPathComponent(id) }
    public func logURL(_ id: String) -> URL { logsURL.appendingPathComponent("\(id).log") }
    public func exitURL(_ id: String) -> URL { logsURL.appendingPathComponent("\(id).exit") }
    public func requeuesURL(_ id: String) -> URL { logsURL.appendingPathComponent("\(id).requeues") }

    /// How many times the run was checkpointed on a stop signal and requeued.
    public func requeues(of id: String) -> Int {
        ((try? String(contentsOf: requeuesURL(id), encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    /// Writes manifest.jsonl (and a copy of the grid file): the plan of a sweep. Run ids
    /// depend only on each run's settings, so re-planning keeps completed runs valid.
    @discardableResult
    public func writePlan(_ runs: [SweepRun], gridFile: URL? = nil) throws -> URL {
        try FileOperations.createDirectory(url)
        try RunFiles.writeJSONLines(runs, to: manifestURL)
        if let gridFile {
            let copy = url.appendingPathComponent("grid." + (gridFile.pathExtension.isEmpty ? "yaml" : gridFile.pathExtension))
            if copy.standardizedFileURL.path != gridFile.standardizedFileURL.path {
                try FileOperations.writeAtomically(try Data(contentsOf: gridFile), to: copy)
            }
        }
        return manifestURL
    }

    /// The runs of manifest.jsonl, in order.
    public func readManifest() throws -> [SweepRun] {
        guard let data = FileManager.default.contents(atPath: manifestURL.path) else {
            throw SweepError.unreadable(path: manifestURL.path, reason: "no manifest; create one with: lpft-mpi sweep plan GRID --out \(url.path)")
        }
        return try SweepRun.parseManifest(data, path: manifestURL.path)
    }

    /// Where a run stands.
    public enum RunState: Equatable, Sendable {
        /// metrics.json exists.
        case complete
        /// The last attempt ended without metrics.json (its exit status).
        case failed(status: Int)
        /// Not run yet, or running now.
        case pending
        /// The last attempt stopped on a signal after a checkpoint (StopRequest.exitCode); its
        /// task was requeued and continues with --resume (waiting or running again).
        case requeued
    }

    public func state(of id: String) -> RunState {
        let fm = FileManager.default
        if fm.fileExists(atPath: runDirectory(id).appendingPathComponent("metrics.json").path) { return .complete }
        let status = (try? String(contentsOf: exitURL(id), encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        if status == Int(StopRequest.exitCode) { return .requeued }
        if let status { return .failed(status: status) }
        // A run that failed on its own (FAILED) before its launcher recorded an exit status.
        if failureMessage(of: id) != nil { return .failed(status: 1) }
        return .pending
    }

    /// The message a failed run left in its FAILED file, if any.
    public func failureMessage(of id: String) -> String? {
        (try? String(contentsOf: runDirectory(id).appendingPathComponent(RunFolder.failedFile), encoding: .utf8))
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// One line per state, failed runs with their log paths.
    public func statusSummary(_ runs: [SweepRun]) -> String {
        var complete = 0, pending = 0
        var failed: [String] = [], requeued: [String] = []
        for run in runs {
            switch state(of: run.id) {
            case .complete: complete += 1
            case .pending: pending += 1
            case .requeued:
                requeued.append("  \(run.id) (requeued \(requeues(of: run.id)) time(s)): \(logURL(run.id).path)")
            case let .failed(status):
                let why = failureMessage(of: run.id).map { " — \($0.prefix(300))" } ?? ""
                failed.append("  \(run.id) (exit \(status))\(why): \(logURL(run.id).path)")
            }
        }
        var lines = ["\(runs.count) run(s): \(complete) complete, \(failed.count) failed, \(pending) not run (or running)"
                     + (requeued.isEmpty ? "" : ", \(requeued.count) requeued")]
        if !failed.isEmpty { lines.append("failed runs and their logs:"); lines += failed }
        if !requeued.isEmpty { lines.append("requeued runs (checkpointed on a stop signal; they continue from it):"); lines += requeued }
        return lines.joined(separator: "\n")
    }
}
