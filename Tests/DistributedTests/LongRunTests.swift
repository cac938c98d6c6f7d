import Foundation
import XCTest
@testable import Distributed
@testable import Model

/// Long runs on shared clusters (issue 15): resume on another number of ranks, mid-epoch
/// checkpoints, stop signals, gradient accumulation, --max-steps and TensorBoard scalars. Runs
/// the CLI under mpirun on the tiny random BERT, like TrainingTests.
final class LongRunTests: XCTestCase {
    var work: URL!
    var model: URL!
    var data: (train: URL, validation: URL, test: URL)!

    override func setUpWithError() throws {
        work = try TinyFixtures.temporaryDirectory("longrun")
        model = work.appendingPathComponent("model")
        try TinyFixtures.writeModel(to: model)
        data = try TinyFixtures.writeData(to: work)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: work)
    }

    private func train(np: Int, out: String, _ extra: [String], method: String = "ft") throws -> URL {
        try trainTiny(np: np, method: method, out: out, work: work, model: model, data: data, extra)
    }

    private func launch(np: Int, out: URL, _ extra: [String], method: String = "ft", timeout: Double = 120) throws -> MPILauncher.Result {
        try MPILauncher.run(np: np, ["train", "--method", method, "--out", out.path, "--quiet"]
                                + TinyFixtures.dataArguments(model: model, data: data) + extra, timeout: timeout)
    }

    private func jsonLines(_ url: URL) throws -> [[String: Any]] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    private func stepLosses(_ dir: URL) throws -> [Double] {
        try jsonLines(dir.appendingPathComponent("steps.jsonl")).map { $0["loss"] as! Double }
    }

    private func metrics(_ dir: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("metrics.json"))) as! [String: Any]
    }

    private func assertClose(_ a: [Double], _ b: [Double], relative: Double, _ what: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "\(what): step counts", file: file, line: line)
        let worst = zip(a, b).map { abs($0 - $1) / abs($0) }.max() ?? 0
        print("\(what): \(a.count) steps, max relative loss difference \(worst)")
        for (step, (x, y)) in zip(a, b).enumerated() {
            XCTAssertEqual(x, y, accuracy: relative * abs(x), "\(what): step \(step + 1)", file: file, line: line)
        }
    }

    /// The global batch of a step is a function of (seed, epoch, step) only: the ranks' slices
    /// of it are disjoint, cover it, and are balanced, for any number of ranks.
    func testGlobalBatchesDoNotDependOnTheRanks() {
        let batches = GlobalBatches(examples: 40, batchSize: 6, seed: 5)
        XCTAssertEqual(batches.stepsPerEpoch, 7)
        XCTAssertEqual(Set(batches.order(epoch: 1)), Set(0..<40))
        XCTAssertNotEqual(batches.order(epoch: 0), batches.order(epoch: 1))
        for step in 0..<7 {
            let global = batches.batch(step: step)
            XCTAssertEqual(global.count, step == 6 ? 4 : 6)
            for P in 1...5 {
                let slices = (0..<P).map { GlobalBatches.slice(global, rank: $0, worldSize: P) }
                XCTAssertEqual(slices.flatMap { Array($0) }, Array(global), "P=\(P) step \(step)")
                XCTAssertLessThanOrEqual(slices.map(\.count).max()! - slices.map(\.count).min()!, 1)
                for slice in slices {
                    let passes = GlobalBatches.microBatches(slice, size: 2)
                    XCTAssertEqual(passes.flatMap { Array($0) }, Array(slice))
                    XCTAssertTrue(passes.allSatisfy { $0.count <= 2 && !$0.isEmpty })
                }
            }
        }
    }

    /// Issue 15 (1): a run killed at np = 2 after the checkpoint of step 10 (mid-epoch; 7 steps
    /// per epoch, the last batch of 4 split unevenly over 3 ranks) continues at np = 3 and at
    /// np = 1 with the losses of the uninterrupted np = 2 run (dropout 0, float summation order
    /// aside) and the same best epoch.
    func testRunKilledAtTwoRanksResumesAtThreeAndOne() throws {
        let args = ["--epochs", "4", "--batch-size", "6", "--dropout", "0", "--lr", "1e-2", "--seed", "5",
                    "--checkpoint-every", "5"]
        let full = try train(np: 2, out: "full", args)
        let partial = work.appendingPathComponent("partial")
        let killed = try launch(np: 2, out: partial, args + ["--drill-kill-after-step", "10"])
        XCTAssertNotEqual(killed.status, 0, "the killed run must fail")
        XCTAssertTrue(FileManager.default.fileExists(atPath: partial.appendingPathComponent("checkpoints/step-10/COMPLETE").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial.appendingPathComponent("metrics.json").path))
        let copy = work.appendingPathComponent("partial-copy")
        try FileManager.default.copyItem(at: partial, to: copy)

        let fullLosses = try stepLosses(full)
        XCTAssertEqual(fullLosses.count, 28)
        XCTAssertGreaterThan(abs(fullLosses.first! - fullLosses.last!), 1e-3, "the loss moves")
        for (np, dir) in [(3, partial), (1, copy)] {
            let resumed = try launch(np: np, out: dir, args + ["--resume"])
            assertSucceeded(resumed, "resume at np=\(np)")
            assertClose(fullLosses, try stepLosses(dir), relative: 1e-4, "np=2 → np=\(np)")
            XCTAssertEqual(try metrics(full)["best_epoch"] as? Int, try metrics(dir)["best_epoch"] as? Int, "np=\(np)")
            XCTAssertEqual(try metrics(dir)["world_size"] as? Int, np)
        }
    }

    /// Issue 15 (2): with dropout on, a run killed after a mid-epoch checkpoint and resumed on
    /// the same ranks repeats the uninterrupted run bit for bit.
    func testMidEpochResumeIsExactWithDropout() throws {
        let args = ["--epochs", "3", "--batch-size", "8", "--dropout", "0.1", "--lr", "1e-2", "--checkpoint-every", "3"]
        let full = try train(np: 2, out: "full", args)
        let partial = work.appendingPathComponent("partial")
        let killed = try launch(np: 2, out: partial, args + ["--drill-kill-after-step", "6"])
        XCTAssertNotEqual(killed.status, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: partial.appendingPathComponent("checkpoints/step-6/COMPLETE").path))
        assertSucceeded(try launch(np: 2, out: partial, args + ["--resume"]), "resume")
        XCTAssertEqual(try stepLosses(full), try stepLosses(partial))
        XCTAssertEqual(try stepLosses(full).count, 15)
        let a = try metrics(full), b = try metrics(partial)
        for key in ["eval", "head_norm", "best_epoch"] {
            XCTAssertEqual(try JSONSerialization.data(withJSONObject: [a[key]!], options: .sortedKeys),
                           try JSONSerialization.data(withJSONObject: [b[key]!], options: .sortedKeys), key)
        }
    }

    /// --checkpoint-minutes: rank 0's clock (shared through the step's allreduce) makes every
    /// rank checkpoint mid-epoch; resuming from it repeats the run that never checkpointed.
    func testCheckpointMinutesWritesMidEpochCheckpoints() throws {
        let args = ["--epochs", "2", "--batch-size", "8", "--lr", "1e-2"]
        let full = try train(np: 2, out: "full", args)
        let partial = work.appendingPathComponent("partial")
        // 60 µs: due after every step.
        let killed = try launch(np: 2, out: partial, args + ["--checkpoint-minutes", "0.000001", "--drill-kill-after-step", "3"])
        XCTAssertNotEqual(killed.status, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: partial.appendingPathComponent("checkpoints/step-3/COMPLETE").path))
        assertSucceeded(try launch(np: 2, out: partial, args + ["--resume"]), "resume")
        XCTAssertEqual(try stepLosses(full), try stepLosses(partial))
    }

    /// Issue 15 (4): gradient accumulation gives the per-step losses of one pass per rank
    /// (dropout 0), on one rank and on two; --max-steps sets the length and --eval-every the
    /// validations.
    func testAccumulationFollowsOnePassAndMaxStepsSetsTheLength() throws {
        let common = ["--batch-size", "8", "--dropout", "0", "--lr", "1e-2", "--max-steps", "12", "--eval-every", "4"]
        let whole = try train(np: 2, out: "whole", common)
        let passes = try train(np: 2, out: "passes", common + ["--micro-batch-size", "1"])
        let single = try train(np: 1, out: "single", common + ["--micro-batch-size", "2"])
        let reference = try stepLosses(whole)
        XCTAssertEqual(reference.count, 12)
        assertClose(reference, try stepLosses(passes), relative: 1e-5, "np=2, passes of 1")
        assertClose(reference, try stepLosses(single), relative: 1e-5, "np=1, passes of 2")
        let history = try jsonLines(whole.appendingPathComponent("history.jsonl"))
        XCTAssertEqual(history.map { $0["global_step"] as? Int }, [4, 8, 12])
        let steps = try jsonLines(whole.appendingPathComponent("steps.jsonl"))
        XCTAssertEqual(steps.last?["learning_rate"] as! Double, 1e-2 / 12, accuracy: 1e-12, "the schedule ends at step 12")
    }

    /// Issue 15 (3): SIGUSR1 to mpirun (what Slurm's --signal sends) stops every rank at the
    /// same step; the checkpoint is complete, the job exits with 75 and says how to go on, and
    /// the resumed run ends as the uninterrupted one, bit for bit (same ranks, dropout on).
    func testStopSignalCheckpointsAndTheResumedRunMatches() throws {
        // Long enough (a few seconds on an idle machine) that the signal comes mid-training.
        let args = ["--max-steps", "800", "--batch-size", "4", "--max-train", "16", "--eval-every", "400", "--lr", "1e-3",
                    "--dropout", "0.1"]
        let out = work.appendingPathComponent("stopped")
        let running = try MPILauncher.start(np: 2, ["train", "--method", "ft", "--out", out.path]
                                                + TinyFixtures.dataArguments(model: model, data: data) + args)
        // Wait until training runs (the first step's progress line on stderr), then signal as
        // the scheduler would.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let log = (try? String(contentsOf: running.directory.appendingPathComponent("stderr"), encoding: .utf8)) ?? ""
            if log.contains("step 1/") { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Thread.sleep(forTimeInterval: 0.5)
        kill(running.process.processIdentifier, SIGUSR1)
        let stopped = running.wait(timeout: 120)
        XCTAssertEqual(stopped.status, StopRequest.exitCode, stopped.stdout + stopped.stderr)
        let message = try XCTUnwrap(stopped.stdout.split(separator: "\n").last { $0.hasPrefix("checkpointed at step") },
                                    stopped.stdout + stopped.stderr)
        let step = Int(message.split(separator: " ")[3].dropLast())!
        XCTAssertTrue(message.hasSuffix("; rerun with --resume"), String(message))
        XCTAssertLessThan(step, 800, "stopped before the end")
        let names = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("checkpoints").path)
        XCTAssertTrue(names.contains { $0 == "step-\(step)" || $0.hasPrefix("epoch-") }, "\(names)")
        XCTAssertEqual(try stepLosses(out).count, step)
        assertSucceeded(try launch(np: 2, out: out, args + ["--resume"], timeout: 400), "resume after the signal")
        let full = work.appendingPathComponent("full")
        assertSucceeded(try launch(np: 2, out: full, args, timeout: 400), "uninterrupted run")
        XCTAssertEqual(try stepLosses(full), try stepLosses(out))
        XCTAssertEqual(try metrics(full)["best_epoch"] as? Int, try metrics(out)["best_epoch"] as? Int)
    }

    /// Issue 15 (6): bad settings stop every rank before any work, naming what is wrong.
    func testBadLongRunSettingsStopWithAClearMessage() throws {
        var r = try launch(np: 2, out: work.appendingPathComponent("a"), ["--batch-size", "8", "--micro-batch-size", "3"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--micro-batch-size 3 is not valid: expected a divisor of the 4 examples per rank"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("a/config.json").path), "no work done")
        r = try launch(np: 2, out: work.appendingPathComponent("b"), ["--max-steps", "10", "--epochs", "2"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--max-steps 10 and --epochs 2 both set the training length"), r.stderr)
        // A resume whose settings differ names each of them.
        let run = work.appendingPathComponent("c")
        let args = ["--epochs", "2", "--batch-size", "8", "--checkpoint-every", "2"]
        XCTAssertNotEqual(try launch(np: 2, out: run, args + ["--drill-kill-after-step", "2"]).status, 0)
        r = try launch(np: 1, out: run, ["--epochs", "3", "--batch-size", "4", "--checkpoint-every", "2", "--resume"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--batch-size 8 (now 4)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--epochs 2 (now 3)"), r.stderr)
        XCTAssertLessThan(r.seconds, 30)
    }

    /// CRC-32C against the standard check value, and TFRecord framing of a known payload.
    func testCRC32CAndRecordFraming() {
        XCTAssertEqual(TensorBoardEvents.crc32c(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(TensorBoardEvents.crc32c([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)  // RFC 3720 B.4
        let record = TensorBoardEvents.record([1, 2, 3])
        XCTAssertEqual(record.count, 8 + 4 + 3 + 4)
        XCTAssertEqual(Array(record[0..<8]), [3, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(TensorBoardEvents.varint(300), [0xAC, 0x02])
    }

    /// Issue 15 (5): the event files read back with TensorBoard's own reader give the values of
    /// steps.jsonl and history.jsonl (skipped when no python3 venv with tensorboard can be made).
    func testTensorBoardReaderReadsTheScalars() throws {
        let script = MPILauncher.repositoryRoot.appendingPathComponent("scripts/check-tensorboard.py")
        let setup = try MPILauncher.runProcess("/bin/bash", [MPILauncher.repositoryRoot.appendingPathComponent("scripts/tensorboard-venv.sh").path],
                                               timeout: 600, environment: [:])
        // TensorBoard's own reader is the independent truth here: without it the test fails
        // (scripts/tensorboard-venv.sh installs it from PyPI into a venv).
        guard setup.status == 0 else { return XCTFail("no python3 venv with tensorboard (scripts/tensorboard-venv.sh): \(setup.stderr)") }
        let python = setup.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let run = try train(np: 2, out: "tb", ["--epochs", "2", "--batch-size", "8", "--tensorboard"])
        let r = try MPILauncher.runProcess(python, [script.path, run.path], timeout: 120, environment: [:])
        assertSucceeded(r, "check-tensorboard.py")
        XCTAssertTrue(r.stdout.contains("train/loss: 10 values match"), r.stdout)
        XCTAssertTrue(r.stdout.contains("validation/accuracy: 2 values match"), r.stdout)
        // --tensorboard DIR puts them elsewhere (e.g. one folder per run of a sweep).
        let elsewhere = work.appendingPathComponent("boards/run-a")
        let other = try train(np: 1, out: "tb-dir", ["--epochs", "1", "--batch-size", "8", "--tensorboard", elsewhere.path])
        let checked = try MPILauncher.runProcess(python, [script.path, other.path, elsewhere.path], timeout: 120, environment: [:])
        assertSucceeded(checked, "check-tensorboard.py with --tensorboard DIR")
        XCTAssertTrue(checked.stdout.contains("train/loss: 5 values match"), checked.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: other.appendingPathComponent("tensorboard").path))
    }
}
