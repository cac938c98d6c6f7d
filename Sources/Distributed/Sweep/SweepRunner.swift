import Foundation
import Model

/// Where the programs of a sweep are.
public struct SweepPrograms: Sendable {
    /// The lpft-mpi binary that runs `train`.
    public var binary: URL
    /// scripts/launch (local runs go through it, as users launch by hand).
    public var launcher: URL?

    public init(binary: URL, launcher: URL?) {
        self.binary = binary
        self.launcher = launcher
    }

    /// The running binary (/proc/self/exe on Linux) and the scripts/launch of the checkout it
    /// was built in (searched upwards from the binary).
    public static func current() -> SweepPrograms {
        let binary: URL
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            binary = URL(fileURLWithPath: path)
        } else {
            binary = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.resolvingSymlinksInPath()
        }
        var directory = binary.deletingLastPathComponent()
        var launcher: URL?
        for _ in 0..<6 {
            let candidate = directory.appendingPathComponent("scripts/launch")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { launcher = candidate; break }
            directory = directory.deletingLastPathComponent()
        }
        return SweepPrograms(binary: binary, launcher: launcher)
    }
}

/// Runs a sweep's manifest on this machine: each run as `scripts/launch -np R -- lpft-mpi train
/// ... --out SWEEPDIR/runs/<id> --resume`, at most `parallel` at once. Complete runs are skipped;
/// a run killed part-way continues from its last checkpoint.
public struct LocalSweepRunner {
    public var sweep: SweepDirectory
    public var programs: SweepPrograms
    public var ranks: Int
    public var parallel: Int
    /// Allow parallel · ranks above the core count.
    public var oversubscribe: Bool
    /// Keep runs/<id>/checkpoints of complete runs (they hold the full model and AdamW state).
    public var keepCheckpoints: Bool
    public var cores: Int

    public init(sweep: SweepDirectory, programs: SweepPrograms, ranks: Int, parallel: Int = 1,
                oversubscribe: Bool = false, keepCheckpoints: Bool = false,
                cores: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.sweep = sweep
        self.programs = programs
        self.ranks = ranks
        self.parallel = parallel
        self.oversubscribe = oversubscribe
        self.keepCheckpoints = keepCheckpoints
        self.cores = cores
    }

    /// BLAS threads of each rank: the cores shared by every rank of every concurrent run.
    public var threadsPerRank: Int { max(1, cores / max(1, ranks * parallel)) }

    public func validate() throws {
        guard ranks >= 1 else { throw SweepError.invalidOption("--ranks must be at least 1 (got \(ranks))") }
        guard parallel >= 1 else { throw SweepError.invalidOption("--parallel must be at least 1 (got \(parallel))") }
        if ranks * parallel > cores && !oversubscribe {
            throw SweepError.invalidOption("--parallel \(parallel) × --ranks \(ranks) = \(ranks * parallel) ranks exceed the \(cores) cores; lower them or pass --oversubscribe")
        }
        guard let launcher = programs.launcher, FileManager.default.isExecutableFile(atPath: launcher.path) else {
            let what = programs.launcher.map { "the launcher \($0.path) is missing or not executable" }
                ?? "scripts/launch was not found next to \(programs.binary.path)"
            throw SweepError.invalidOption("\(what); pass --launcher PATH (an executable script such as scripts/launch)")
        }
    }

    /// The outcome of a local sweep.
    public struct Summary: Sendable {
        public var ran: [String] = []
        public var skipped: [String] = []
        public var failed: [String] = []
        public var seconds = 0.0
    }

    /// Runs every incomplete run; `log` receives one line per event (start, done, failure).
    public func run(_ runs: [SweepRun], log: @escaping @Sendable (String) -> Void) throws -> Summary {
        try validate()
        try FileOperations.createDirectory(sweep.logsURL)
        let start = Date()
        let tally = Tally()
        let todo = runs.filter { run in
            if sweep.state(of: run.id) == .complete { tally.summary.skipped.append(run.id); return false }
            return true
        }
        if !tally.summary.skipped.isEmpty { log("skipping \(tally.summary.skipped.count) complete run(s)") }
        let slots = DispatchSemaphore(value: parallel)
        let group = DispatchGroup()
        for (index, run) in todo.enumerated() {
            slots.wait()
            if tally.locked({ $0.error != nil }) { slots.signal(); break }
            group.enter()
            let tag = "[\(index + 1)/\(todo.count)]"
            log("\(tag) start \(run.id)")
            DispatchQueue.global().async {
                defer { slots.signal(); group.leave() }
                let t0 = Date()
                do {
                    let status = try runOne(run)
                    let took = Self.duration(Date().timeIntervalSince(t0))
                    if status == 0 && sweep.state(of: run.id) == .complete {
                        tally.locked { $0.summary.ran.append(run.id) }
                        log("\(tag) done \(run.id) in \(took)")
                    } else {
                        tally.locked { $0.summary.failed.append(run.id) }
                        log("\(tag) FAILED \(run.id) (exit \(status)) after \(took); log: \(sweep.logURL(run.id).path)")
                    }
                } catch {
                    tally.locked { $0.error = error; $0.summary.failed.append(run.id) }
                }
            }
        }
        group.wait()
        if let error = tally.error { throw error }
        tally.summary.seconds = Date().timeIntervalSince(start)
        return tally.summary
    }

    /// Results shared by the concurrent runs (every access under the lock).
    final class Tally: @unchecked Sendable {
        var summary = Summary()
        var error: Error?
        private let lock = NSLock()

        @discardableResult
        func locked<T>(_ body: (Tally) -> T) -> T {
            lock.lock(); defer { lock.unlock() }
            return body(self)
        }
    }

    /// Runs one run to its end; returns its exit status (also written to logs/<id>.exit).
    func runOne(_ run: SweepRun) throws -> Int32 {
        let directory = sweep.runDirectory(run.id)
        let status = try launch(["train"] + run.arguments + ["--out", directory.path, "--resume"],
                                log: sweep.logURL(run.id), title: run.id)
        try FileOperations.writeAtomically(Data("\(status)\n".utf8), to: sweep.exitURL(run.id))
        if status == 0 && !keepCheckpoints && sweep.state(of: run.id) == .complete {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent("checkpoints"))
        }
        return status
    }

    /// Runs `lpft-mpi <arguments>` on `ranks` ranks through the launcher, its output appended to
    /// `log` after a header line, and returns its exit status. The child runs in an environment
    /// of its own: no variables of an enclosing MPI job, OPENBLAS_NUM_THREADS = `threadsPerRank`.
    public func launch(_ arguments: [String], log logURL: URL, title: String) throws -> Int32 {
        guard let launcher = programs.launcher else { throw SweepError.invalidOption("no launcher script; pass --launcher PATH") }
        try FileOperations.createDirectory(logURL.deletingLastPathComponent())
        if !FileManager.default.fileExists(atPath: logURL.path) { _ = FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: logURL)
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        let launchArguments = ["-np", String(ranks), "--", programs.binary.path] + arguments
        let header = "== \(title): \(ranks) rank(s), \(threadsPerRank) thread(s) each, \(ISO8601DateFormatter().string(from: Date()))\n"
            + "== \(launcher.path) \(launchArguments.joined(separator: " "))\n"
        handle.write(Data(header.utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [launcher.path] + launchArguments
        // The child mpirun must not think it runs inside another MPI job.
        var environment = ProcessInfo.processInfo.environment.filter { key, _ in
            !(key.hasPrefix("OMPI_") || key.hasPrefix("PMIX_") || key.hasPrefix("OPAL_") || key.hasPrefix("ORTE_"))
        }
        environment["OPENBLAS_NUM_THREADS"] = String(threadsPerRank)
        // Concurrent mpiruns each bind from core 0 on; unbound ranks share the cores instead.
        if parallel > 1 { environment["OMPI_MCA_hwloc_base_binding_policy"] = "none" }
        process.environment = environment
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        // Runs are started from libdispatch's worker threads, which run at nice 0 whatever the
        // process's nice; the launched run inherits this thread's, so `nice lpft-mpi sweep run`
        // reaches the runs only if this thread first takes the process's value.
        if let nice = ThreadPriority.processNice() { ThreadPriority.adopt(nice) }
        do { try process.run() } catch {
            throw SweepError.launchFailed("cannot start \(launcher.path): \(error.localizedDescription)")
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    static func duration(_ seconds: Double) -> String { Trainer.duration(seconds) }
}
