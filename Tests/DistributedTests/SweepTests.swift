import Foundation
import XCTest
@testable import Distributed

/// A small sweep (3 runs × 2 ranks, tiny random model) through a real single-node Slurm
/// (scripts/slurm-local.sh) and through the local runner: every run finishes, and running
/// the sweep again runs nothing.
final class SweepTests: XCTestCase {
    var work: URL!
    var grid: URL!

    override func setUpWithError() throws {
        work = try TinyFixtures.temporaryDirectory("sweep")
        let model = work.appendingPathComponent("model")
        try TinyFixtures.writeModel(to: model)
        let data = try TinyFixtures.writeData(to: work)
        grid = work.appendingPathComponent("grid.yaml")
        try """
            tasks:
              - {name: tiny, train: \(data.train.path), validation: \(data.validation.path), test: \(data.test.path)}
            methods: [lp, ft, lp-ft]
            seeds: [5]
            parameters:
              model: \(model.path)
              epochs: 2
              batch-size: 8
              lr: 1e-3
            overrides:
              lp: {epochs: null, lr: null}
            """.write(to: grid, atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: work)
    }

    /// `lpft-mpi sweep plan` → the sweep folder with its 3 runs.
    func plan(_ name: String) throws -> (SweepDirectory, [SweepRun]) {
        let sweep = SweepDirectory(work.appendingPathComponent(name))
        let r = try MPILauncher.runSingle(["sweep", "plan", grid.path, "--out", sweep.url.path], timeout: 60)
        assertSucceeded(r, "sweep plan")
        let runs = try sweep.readManifest()
        XCTAssertEqual(runs.map(\.method), ["lp", "ft", "lp-ft"])
        XCTAssertTrue(r.stdout.contains("planned 3 run(s)"), r.stdout)
        return (sweep, runs)
    }

    /// Every run finished on 2 ranks with its own settings; returns metrics.json modification dates.
    func checkComplete(_ sweep: SweepDirectory, _ runs: [SweepRun], file: StaticString = #filePath, line: UInt = #line) throws -> [Date] {
        try runs.map { run in
            let url = sweep.runDirectory(run.id).appendingPathComponent("metrics.json")
            guard let data = FileManager.default.contents(atPath: url.path) else {
                let log = (try? String(contentsOf: sweep.logURL(run.id), encoding: .utf8)) ?? "(no log)"
                XCTFail("\(run.id): no metrics.json; log:\n\(log)", file: file, line: line)
                return .distantPast
            }
            let metrics = try JSONSerialization.jsonObject(with: data) as! [String: Any]
            XCTAssertEqual(metrics["method"] as? String, run.method, file: file, line: line)
            XCTAssertEqual(metrics["world_size"] as? Int, 2, file: file, line: line)
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: sweep.runDirectory(run.id).appendingPathComponent("config.json"))) as! [String: Any]
            XCTAssertEqual(config["seed"] as? Int, 5, file: file, line: line)
            if run.method != "lp" { XCTAssertEqual(config["learningRate"] as? Double, 1e-3, file: file, line: line) }
            // Checkpoints of finished runs are removed by default.
            XCTAssertFalse(FileManager.default.fileExists(atPath: sweep.runDirectory(run.id).appendingPathComponent("checkpoints").path),
                           file: file, line: line)
            XCTAssertEqual(try String(contentsOf: sweep.exitURL(run.id), encoding: .utf8), "0\n", file: file, line: line)
            return try FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as! Date
        }
    }

    func testLocalSweepRunsEveryRunOnceAndReports() throws {
        let (sweep, runs) = try plan("local")
        let first = try MPILauncher.runSingle(["sweep", "run", sweep.url.path, "--scheduler", "local", "--ranks", "2"], timeout: 300)
        assertSucceeded(first, "sweep run (local)")
        XCTAssertTrue(first.stdout.contains("ran 3, skipped 0 complete, 0 failed"), first.stdout)
        let dates = try checkComplete(sweep, runs)

        let again = try MPILauncher.runSingle(["sweep", "run", sweep.url.path, "--scheduler", "local", "--ranks", "2"], timeout: 60)
        assertSucceeded(again, "sweep run again")
        XCTAssertTrue(again.stdout.contains("ran 0, skipped 3 complete, 0 failed"), again.stdout)
        XCTAssertEqual(try checkComplete(sweep, runs), dates, "a complete run ran again")

        let report = try MPILauncher.runSingle(["report", sweep.url.path], timeout: 60)
        assertSucceeded(report, "report")
        XCTAssertTrue(report.stdout.contains("| tiny | lp-ft | 1 |"), report.stdout)
        for name in ["report.md", "accuracy.csv", "head_norm-tiny.svg", "reliability-tiny-ft.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: sweep.url.appendingPathComponent("report/\(name)").path), name)
        }
    }

    /// A failing run is reported with its log, and the sweep exits non-zero.
    func testLocalSweepListsFailedRuns() throws {
        let sweep = SweepDirectory(work.appendingPathComponent("failing"))
        let bad = SweepGrid(tasks: [SweepTask(name: "missing", flags: ["train": [.text("/nonexistent.csv")], "test": [.text("/nonexistent.csv")]])],
                            methods: [.lp], seeds: [1])
        try sweep.writePlan(bad.expand())
        let r = try MPILauncher.runSingle(["sweep", "run", sweep.url.path, "--ranks", "1"], timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        let id = try bad.expand()[0].id
        XCTAssertTrue(r.stdout.contains("FAILED \(id)"), r.stdout)
        XCTAssertTrue(r.stdout.contains(sweep.logURL(id).path), r.stdout)
        XCTAssertTrue(try String(contentsOf: sweep.logURL(id), encoding: .utf8).contains("nonexistent.csv"))
        let status = try MPILauncher.runSingle(["sweep", "status", sweep.url.path], timeout: 30)
        XCTAssertTrue(status.stdout.contains("1 run(s): 0 complete, 1 failed, 0 not run"), status.stdout)
    }

    /// `nice -n 7 lpft-mpi sweep run` starts its runs at nice 7: the runner launches them from
    /// libdispatch threads, which run at nice 0 whatever the process's nice (seen on a real
    /// sweep, whose ranks competed at normal priority). The launcher here records its nice.
    func testRunsInheritTheSweepsNiceValue() throws {
        let (sweep, runs) = try plan("nice")
        let record = work.appendingPathComponent("nice.txt")
        let launcher = work.appendingPathComponent("record-nice.sh")
        try "#!/bin/bash\nps -o ni= -p $$ >> \(record.path)\nexit 3\n".write(to: launcher, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: launcher.path)
        let r = try MPILauncher.runProcess("/usr/bin/nice", ["-n", "7", MPILauncher.binary.path, "sweep", "run", sweep.url.path,
                                                             "--ranks", "1", "--launch-script", launcher.path], timeout: 60, environment: [:])
        XCTAssertNotEqual(r.status, 0, "the recording launcher fails every run")
        let values = try String(contentsOf: record, encoding: .utf8).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(values, Array(repeating: "7", count: runs.count), r.stdout)
    }

    func testPlanRejectsBadTrainFlags() throws {
        try "tasks: [sentiment-ood]\nmethods: [ft]\nseeds: [1]\nparameters: {learning-rate: 1e-5}\n"
            .write(to: grid, atomically: true, encoding: .utf8)
        let r = try MPILauncher.runSingle(["sweep", "plan", grid.path, "--out", work.appendingPathComponent("bad").path], timeout: 30)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("learning-rate"), r.stderr)
    }

    /// `sweep plan` refuses a grid over --max-runs with the count and the flag to raise it, and
    /// writes no manifest; raising the limit plans it.
    func testPlanRefusesAGridOverTheRunLimit() throws {
        try "tasks: [sentiment-ood]\nmethods: [ft, lora]\nseeds: [1, 2, 3]\nparameters: {lr: [1e-5, 2e-5, 3e-5], warmup-ratio: [0, 0.1]}\n"
            .write(to: grid, atomically: true, encoding: .utf8)
        let out = work.appendingPathComponent("capped")
        let r = try MPILauncher.runSingle(["sweep", "plan", grid.path, "--out", out.path, "--max-runs", "35"], timeout: 30)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("expands to 36 runs, more than the limit of 35"), r.stderr)
        XCTAssertTrue(r.stderr.contains(grid.path), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("manifest.jsonl").path))
        let ok = try MPILauncher.runSingle(["sweep", "plan", grid.path, "--out", out.path, "--max-runs", "36"], timeout: 30)
        assertSucceeded(ok, "sweep plan --max-runs 36")
        XCTAssertTrue(ok.stdout.contains("planned 36 run(s)"), ok.stdout)
        let zero = try MPILauncher.runSingle(["sweep", "plan", grid.path, "--out", out.path, "--max-runs", "0"], timeout: 30)
        XCTAssertNotEqual(zero.status, 0)
        XCTAssertTrue(zero.stderr.contains("--max-runs 0 is not valid: expected a whole number from 1 to"), zero.stderr)
    }

    // MARK: Slurm

    static let slurmScript = MPILauncher.repositoryRoot.appendingPathComponent("scripts/slurm-local.sh")
    static let slurmState = FileManager.default.temporaryDirectory.appendingPathComponent("lpft-slurm-test")

    /// Runs scripts/slurm-local.sh ACTION; the test fails (never skips) when Slurm cannot start.
    func slurmLocal(_ action: String) throws -> MPILauncher.Result {
        try MPILauncher.runProcess("/bin/bash", [Self.slurmScript.path, action], timeout: 600,
                                   environment: ["LPFT_SLURM_DIR": Self.slurmState.path])
    }

    var slurmEnvironment: [String: String] { ["SLURM_CONF": Self.slurmState.appendingPathComponent("slurm.conf").path] }

    /// Waits until squeue no longer lists the job.
    func waitForJob(_ job: String, timeout: Double) throws {
        let start = Date()
        while Date().timeIntervalSince(start) < timeout {
            let q = try MPILauncher.runProcess("/usr/bin/env", ["squeue", "-h", "-j", job, "-o", "%i %T"], timeout: 30, environment: slurmEnvironment)
            if q.status == 0 && q.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return }
            Thread.sleep(forTimeInterval: 2)
        }
        XCTFail("job \(job) still queued or running after \(Int(timeout)) s")
    }

    func submit(_ sweep: SweepDirectory) throws -> String {
        let r = try MPILauncher.runSingle(["sweep", "run", sweep.url.path, "--scheduler", "slurm", "--ranks", "2",
                                           "--max-concurrent", "1", "--time", "10:00", "--submit"],
                                          timeout: 60, environment: slurmEnvironment)
        assertSucceeded(r, "sweep run --scheduler slurm --submit")
        let job = r.stdout.split(separator: "\n").last { $0.hasPrefix("submitted job ") }.map { String($0.dropFirst(14)) }
        return try XCTUnwrap(job, "no job id in:\n\(r.stdout)")
    }

    func testSlurmSweepRunsEveryRunOnceAndResubmissionRunsNothing() throws {
        let started = try slurmLocal("start")
        defer { _ = try? slurmLocal("stop") }
        guard started.status == 0 else {
            return XCTFail("could not start a local Slurm (scripts/slurm-local.sh start):\n\(started.stdout)\n\(started.stderr)")
        }
        let (sweep, runs) = try plan("slurm")
        let job = try submit(sweep)
        try waitForJob(job, timeout: 400)
        let script = try String(contentsOf: sweep.scriptURL, encoding: .utf8)
        XCTAssertTrue(script.contains("#SBATCH --array=0-2%1\n#SBATCH --ntasks=2\n"), script)
        let dates = try checkComplete(sweep, runs)
        for index in 0..<3 {
            let out = try String(contentsOf: sweep.logsURL.appendingPathComponent("slurm-\(job)_\(index).out"), encoding: .utf8)
            XCTAssertTrue(out.contains("done \(runs[index].id)"), out)
        }

        // Resubmitting: every array task finds its run complete and exits.
        let again = try submit(sweep)
        XCTAssertNotEqual(again, job)
        try waitForJob(again, timeout: 120)
        XCTAssertEqual(try checkComplete(sweep, runs), dates, "a complete run ran again")
        for index in 0..<3 {
            let out = try String(contentsOf: sweep.logsURL.appendingPathComponent("slurm-\(again)_\(index).out"), encoding: .utf8)
            XCTAssertEqual(out, "skip \(runs[index].id): complete\n")
        }
        let report = try MPILauncher.runSingle(["report", sweep.url.path], timeout: 60)
        assertSucceeded(report, "report of the Slurm sweep")
        print(report.stdout)
    }

    /// Issue 15 (3): a running array task signalled as Slurm does before its time limit
    /// (`--signal=B:USR1`: SIGUSR1 to the batch shell) checkpoints, requeues itself, shows as
    /// requeued, and completes with the step losses and metrics of an uninterrupted run.
    func testSlurmTaskSignalledBeforeItsTimeLimitIsRequeuedAndCompletes() throws {
        let started = try slurmLocal("start")
        defer { _ = try? slurmLocal("stop") }
        guard started.status == 0 else {
            return XCTFail("could not start a local Slurm (scripts/slurm-local.sh start):\n\(started.stdout)\n\(started.stderr)")
        }
        let model = work.appendingPathComponent("model"), data: URL = work
        let longGrid = work.appendingPathComponent("long.yaml")
        try """
            tasks:
              - {name: tiny, train: \(data.appendingPathComponent("train.csv").path), validation: \(data.appendingPathComponent("validation.csv").path), test: \(data.appendingPathComponent("test.csv").path)}
            methods: [ft]
            seeds: [5]
            parameters: {model: \(model.path), max-steps: 1500, eval-every: 500, batch-size: 4, max-train: 16, lr: 1e-3, dropout: 0.1}
            """.write(to: longGrid, atomically: true, encoding: .utf8)
        let sweep = SweepDirectory(work.appendingPathComponent("preempted"))
        assertSucceeded(try MPILauncher.runSingle(["sweep", "plan", longGrid.path, "--out", sweep.url.path], timeout: 60), "plan")
        let run = try XCTUnwrap(try sweep.readManifest().first)
        let job = try submit(sweep)
        let script = try String(contentsOf: sweep.scriptURL, encoding: .utf8)
        XCTAssertTrue(script.contains("#SBATCH --signal=B:USR1@120\n#SBATCH --requeue\n"), script)
        // Once the run trains, signal the batch shell as the scheduler would at its time limit.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !((try? String(contentsOf: sweep.logURL(run.id), encoding: .utf8)) ?? "").contains("step 1/") {
            Thread.sleep(forTimeInterval: 0.2)
        }
        Thread.sleep(forTimeInterval: 1)
        let signal = try MPILauncher.runProcess("/usr/bin/env", ["scancel", "--signal=USR1", "--batch", "\(job)_0"], timeout: 30,
                                                environment: slurmEnvironment)
        assertSucceeded(signal, "scancel --signal=USR1 --batch")
        // The task requeues itself (Slurm holds a requeued task about 2 minutes), then completes.
        let requeuedBy = Date().addingTimeInterval(60)
        while Date() < requeuedBy && sweep.requeues(of: run.id) == 0 { Thread.sleep(forTimeInterval: 0.5) }
        XCTAssertEqual(sweep.requeues(of: run.id), 1)
        let status = try MPILauncher.runSingle(["sweep", "status", sweep.url.path], timeout: 30)
        XCTAssertTrue(status.stdout.contains("1 requeued") || status.stdout.contains("1 complete"), status.stdout)
        try waitForJob(job, timeout: 500)
        let log = try String(contentsOf: sweep.logURL(run.id), encoding: .utf8)
        let stoppedAt = try XCTUnwrap(log.split(separator: "\n").first { $0.hasPrefix("checkpointed at step ") }, log)
        XCTAssertTrue(log.contains("resumed after"), log)
        print("slurm: \(stoppedAt); requeued \(sweep.requeues(of: run.id)) time(s)")
        XCTAssertEqual(sweep.state(of: run.id), .complete, log)

        // The same run without interruption, on 2 ranks.
        let reference = work.appendingPathComponent("reference")
        assertSucceeded(try MPILauncher.run(np: 2, ["train"] + run.arguments + ["--out", reference.path, "--quiet"], timeout: 300),
                        "uninterrupted run")
        func read(_ dir: URL, _ name: String) throws -> Data { try Data(contentsOf: dir.appendingPathComponent(name)) }
        XCTAssertEqual(try read(reference, "steps.jsonl").count > 0, true)
        let losses = { (dir: URL) throws -> [String] in
            try String(decoding: read(dir, "steps.jsonl"), as: UTF8.self).split(separator: "\n").map {
                let o = try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
                return "\(o["global_step"]!) \(o["loss"]!)"
            }
        }
        XCTAssertEqual(try losses(reference), try losses(sweep.runDirectory(run.id)))
        let a = try JSONSerialization.jsonObject(with: read(reference, "metrics.json")) as! [String: Any]
        let b = try JSONSerialization.jsonObject(with: read(sweep.runDirectory(run.id), "metrics.json")) as! [String: Any]
        for key in ["eval", "best_epoch", "head_norm"] {
            XCTAssertEqual(try JSONSerialization.data(withJSONObject: [a[key]!], options: .sortedKeys),
                           try JSONSerialization.data(withJSONObject: [b[key]!], options: .sortedKeys), key)
        }
    }

    /// `sweep status` lists a run whose last attempt checkpointed on a stop signal as requeued.
    func testStatusShowsRequeuedRuns() throws {
        let (sweep, runs) = try plan("requeued")
        try FileManager.default.createDirectory(at: sweep.logsURL, withIntermediateDirectories: true)
        try "75\n".write(to: sweep.exitURL(runs[1].id), atomically: true, encoding: .utf8)
        try "2026-01-01T00:00:00+00:00 7_1\n2026-01-01T01:00:00+00:00 7_1\n".write(to: sweep.requeuesURL(runs[1].id), atomically: true, encoding: .utf8)
        XCTAssertEqual(sweep.state(of: runs[1].id), .requeued)
        let status = try MPILauncher.runSingle(["sweep", "status", sweep.url.path], timeout: 30)
        XCTAssertTrue(status.stdout.contains("3 run(s): 0 complete, 0 failed, 2 not run (or running), 1 requeued"), status.stdout)
        XCTAssertTrue(status.stdout.contains("\(runs[1].id) (requeued 2 time(s))"), status.stdout)
    }
}
