import Foundation
import XCTest
@testable import Distributed
@testable import Model

/// Training runs on a tiny random BERT and a small synthetic data set, through the CLI under
/// mpirun (the way users run it).
final class TrainingTests: XCTestCase {
    var work: URL!
    var model: URL!
    var data: (train: URL, validation: URL, test: URL)!

    override func setUpWithError() throws {
        work = try TinyFixtures.temporaryDirectory("train")
        model = work.appendingPathComponent("model")
        try TinyFixtures.writeModel(to: model)
        data = try TinyFixtures.writeData(to: work)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: work)
    }

    private func train(np: Int, method: String, out: String, _ extra: [String] = [], timeout: Double = 120) throws -> URL {
        try trainTiny(np: np, method: method, out: out, work: work, model: model, data: data, extra, timeout: timeout)
    }

    private func stepLosses(_ dir: URL) throws -> [Double] {
        try String(contentsOf: dir.appendingPathComponent("steps.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                return object["loss"] as! Double
            }
    }

    private func metrics(_ dir: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("metrics.json"))) as! [String: Any]
    }

    /// np = 2 with global batch 8 follows np = 1 with batch 8 step by step (dropout off):
    /// the same examples form each global batch, and the averaged gradient is the same mean.
    func testTwoRanksFollowOneRankStepByStep() throws {
        let common = ["--epochs", "4", "--batch-size", "8", "--dropout", "0", "--lr", "1e-2", "--seed", "5"]
        let one = try stepLosses(train(np: 1, method: "ft", out: "ft-np1", common))
        let two = try stepLosses(train(np: 2, method: "ft", out: "ft-np2", common))
        XCTAssertEqual(one.count, 20)  // 40 examples / 8 per step × 4 epochs
        XCTAssertEqual(one.count, two.count)
        for (step, (a, b)) in zip(one, two).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-4 * abs(a), "step \(step + 1)")
        }
        // The loss actually moves (the comparison is not between constants).
        XCTAssertGreaterThan(abs(one.first! - one.last!), 1e-3)
    }

    /// Three ranks (global batch 6) follow one rank for LP-LoRA too.
    func testThreeRanksFollowOneRankWithLPLoRA() throws {
        let common = ["--epochs", "3", "--batch-size", "6", "--dropout", "0", "--lr", "5e-3", "--max-train", "36"]
        let one = try stepLosses(train(np: 1, method: "lp-lora", out: "lora-np1", common))
        let three = try stepLosses(train(np: 3, method: "lp-lora", out: "lora-np3", common))
        XCTAssertEqual(one.count, 18)
        // Evaluation batches do not depend on the number of ranks: the same features, so the
        // same LP head bit for bit.
        let headOne = try SafetensorsFile(url: work.appendingPathComponent("lora-np1/lp_head.safetensors"))
        let headThree = try SafetensorsFile(url: work.appendingPathComponent("lora-np3/lp_head.safetensors"))
        XCTAssertEqual(try headOne.floats("weight"), try headThree.floats("weight"))
        XCTAssertEqual(try headOne.floats("bias"), try headThree.floats("bias"))
        for (step, (a, b)) in zip(one, three).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-4 * abs(a), "step \(step + 1)")
        }
    }

    /// Gradient buckets summed during backward (--overlap on) and after it (off) are the same
    /// MPI sums: the trained models are bit-identical, for FT (dense buckets and the packed
    /// word-table rows) on 2 ranks and LoRA on 3, with buckets small enough that a step has
    /// many of them (dropout on: the ranks' streams are the same either way). With 38
    /// examples in batches of 6 the last global batch has 2, so on 3 ranks one rank has no
    /// example in that step and still takes part in the sums.
    func testOverlappedGradientBucketsGiveBitIdenticalModels() throws {
        for (method, np, batch, examples) in [("ft", 2, "8", "40"), ("ft", 3, "6", "38"), ("lora", 3, "6", "38")] {
            var models: [Data] = [], losses: [[Double]] = []
            for overlap in ["on", "off"] {
                let out = try train(np: np, method: method, out: "\(method)-np\(np)-overlap-\(overlap)",
                                    ["--epochs", "2", "--batch-size", batch, "--max-train", examples, "--lr", "1e-2",
                                     "--bucket-mb", "0.002", "--overlap", overlap])
                models.append(try Data(contentsOf: out.appendingPathComponent("model/model.safetensors")))
                losses.append(try stepLosses(out))
            }
            XCTAssertEqual(losses[0], losses[1], method)
            XCTAssertTrue(models[0] == models[1], "\(method): the models trained with and without overlap differ")
            XCTAssertGreaterThan(abs(losses[0].first! - losses[0].last!), 1e-3, method)
        }
    }

    /// --allreduce-dtype bf16 sends the gradients as bfloat16: the run follows the float32 one
    /// closely (each sum rounded to 8 significant bits) but not bit for bit — the first loss,
    /// computed before any sum, is identical, later ones differ slightly; with overlap off the
    /// bf16 run is bit-identical to its overlapped twin.
    func testBF16GradientsOnTheWireFollowFloat32Closely() throws {
        let common = ["--epochs", "2", "--batch-size", "8", "--dropout", "0", "--lr", "1e-2", "--seed", "5"]
        let f32 = try stepLosses(train(np: 2, method: "ft", out: "wire-f32", common))
        let bf16 = try stepLosses(train(np: 2, method: "ft", out: "wire-bf16", common + ["--allreduce-dtype", "bf16"]))
        let bf16Off = try stepLosses(train(np: 2, method: "ft", out: "wire-bf16-off", common + ["--allreduce-dtype", "bf16", "--overlap", "off"]))
        XCTAssertEqual(f32.count, 10)
        XCTAssertEqual(f32.first, bf16.first)
        XCTAssertNotEqual(f32, bf16, "bf16 on the wire changed nothing: is it used?")
        for (step, (a, b)) in zip(f32, bf16).enumerated() {
            XCTAssertEqual(a, b, accuracy: 1e-2 * abs(a), "step \(step + 1)")
        }
        XCTAssertEqual(bf16, bf16Off)
    }

    /// LP-FT's training stage starts from exactly the LP head (the LP run's head, bit for bit).
    func testLPFTStartsFromTheLPHead() throws {
        let lp = try train(np: 2, method: "lp", out: "lp", ["--batch-size", "8"])
        let lpft = try train(np: 2, method: "lp-ft", out: "lpft", ["--batch-size", "8", "--epochs", "1"])
        let lpHead = try SafetensorsFile(url: lp.appendingPathComponent("head.safetensors"))
        let startHead = try SafetensorsFile(url: lpft.appendingPathComponent("lp_head.safetensors"))
        XCTAssertEqual(try lpHead.floats("weight"), try startHead.floats("weight"))
        XCTAssertEqual(try lpHead.floats("bias"), try startHead.floats("bias"))
        let norms = try metrics(lpft)["head_norm"] as! [String: Any]
        XCTAssertEqual(norms["after_lp"] as? Double, norms["start_of_training"] as? Double)
        // LP grows the head far beyond its N(0, 0.02²) initialisation.
        XCTAssertGreaterThan(norms["after_lp"] as! Double, 3 * (norms["init"] as! Double))
    }

    /// The metrics file carries the paper's measurements in the documented shape.
    /// Without --max-length, train takes 128 tokens or the model's positions when fewer (as
    /// embed and ntk do); config.json records what it took.
    func testDefaultMaxLengthIsTheModelsPositionsWhenFewerThan128() throws {
        for (positions, expected) in [(40, 40), (130, 128)] {
            let short = work.appendingPathComponent("model-\(positions)")
            try TinyFixtures.writeModel(to: short, positions: positions)
            let dir = try trainTiny(np: 1, method: "lp", out: "positions-\(positions)", work: work, model: short, data: data)
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
            XCTAssertEqual(config["maxLength"] as? Int, expected, "\(positions) positions")
        }
    }

    func testMetricsFileShape() throws {
        let dir = try train(np: 1, method: "lp-ft", out: "shape", ["--epochs", "2", "--batch-size", "8",
                                                                   "--ood", "again=\(data.test.path)"])
        let m = try metrics(dir)
        let eval = m["eval"] as! [String: [String: Any]]
        XCTAssertEqual(Set(eval.keys), ["validation", "test", "again"])
        for key in ["accuracy", "f1", "mcc", "ece", "mce", "brier", "nll", "ece_ts", "mce_ts", "brier_ts", "nll_ts", "temperature"] {
            XCTAssertNotNil(eval["test"]?[key] as? Double, key)
        }
        // The OOD copy of the test file gives the test metrics.
        XCTAssertEqual(eval["again"]?["accuracy"] as? Double, eval["test"]?["accuracy"] as? Double)
        let heads = m["head_norm"] as! [String: Any]
        XCTAssertEqual((heads["per_epoch"] as! [Double]).count, 2)
        for key in ["init", "after_lp", "final"] { XCTAssertNotNil(heads[key] as? Double, key) }
        let features = m["features"] as! [String: Any]
        XCTAssertGreaterThan(features["diff"] as! Double, 0)
        // The run's total covers its training, validation and final evaluation.
        let timing = m["timing"] as! [String: Any], phases = timing["phases"] as! [String: Double]
        XCTAssertGreaterThanOrEqual(timing["total_seconds"] as! Double,
                                    ["train", "validation", "final_evaluation"].map { phases[$0]! }.reduce(0, +))
        let history = try String(contentsOf: dir.appendingPathComponent("history.jsonl"), encoding: .utf8)
        XCTAssertEqual(history.split(separator: "\n").count, 2)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
        XCTAssertEqual(config["worldSize"] as? Int, 1)
        XCTAssertNotNil(config["gitCommit"] as? String)
    }

    /// A run killed part-way (rank 0 SIGKILLs itself after epoch 2's checkpoint, as a node
    /// failure would) and resumed ends with the same metrics as an uninterrupted run.
    func testKilledRunResumesToTheSameResult() throws {
        let args = ["--epochs", "6", "--batch-size", "4", "--max-train", "40"]
        let full = try train(np: 2, method: "lp-ft", out: "full", args)
        let partialDir = work.appendingPathComponent("partial")
        let killed = try MPILauncher.run(np: 2, ["train", "--method", "lp-ft", "--out", partialDir.path, "--quiet",
                                                 "--drill-kill-after-epoch", "2"]
                                             + TinyFixtures.dataArguments(model: model, data: data) + args, timeout: 120)
        XCTAssertNotEqual(killed.status, 0, "the killed run must fail")
        XCTAssertLessThan(killed.seconds, 60)
        XCTAssertTrue(FileManager.default.fileExists(atPath: partialDir.appendingPathComponent("checkpoints/epoch-2/COMPLETE").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: partialDir.appendingPathComponent("metrics.json").path),
                       "a killed run leaves no metrics")
        let resumed = try MPILauncher.run(np: 2, ["train", "--method", "lp-ft", "--out", partialDir.path, "--quiet", "--resume"]
                                              + TinyFixtures.dataArguments(model: model, data: data) + args, timeout: 120)
        assertSucceeded(resumed, "resume")
        let a = try metrics(full), b = try metrics(partialDir)
        for key in ["eval", "head_norm", "features", "best_epoch", "linear_probe"] {
            XCTAssertEqual(try JSONSerialization.data(withJSONObject: [a[key]!], options: .sortedKeys),
                           try JSONSerialization.data(withJSONObject: [b[key]!], options: .sortedKeys), key)
        }
        XCTAssertEqual(try stepLosses(full), try stepLosses(partialDir))
    }

    /// --max-train/--max-eval take a fixed random subset in file order, not a prefix: a file
    /// sorted by label still gives both classes.
    func testSubsetsAreFixedRandomAndKeepFileOrder() {
        let sorted = (0..<1000).map { Example(id: "f:\($0 + 2)", text: "t\($0)", textPair: nil, label: $0 < 500 ? 0 : 1) }
        let subset = Trainer.fixedSubset(sorted, count: 100)
        XCTAssertEqual(subset.count, 100)
        XCTAssertEqual(subset, Trainer.fixedSubset(sorted, count: 100), "the same subset every time")
        let positions = subset.map { Int($0.text.dropFirst())! }
        XCTAssertEqual(positions, positions.sorted(), "file order kept")
        XCTAssertEqual(Set(positions).count, 100, "no repeats")
        let positives = subset.filter { $0.label == 1 }.count
        XCTAssertTrue((30...70).contains(positives), "\(positives) of 100 positive: not representative")
        XCTAssertEqual(Trainer.fixedSubset(sorted, count: 2000), sorted)
    }

    /// LoRA trains only the adapter and the head: the backbone stays bit-identical.
    func testLoRALeavesBaseWeightsBitIdentical() throws {
        let comm = try Communicator.world()
        let task = try TaskData.loadGeneric(train: data.train, validation: data.validation, test: data.test,
                                            ood: [], spec: GenericTableSpec())
        let config = TrainingConfig(method: .lora, modelDirectory: model.path, outputDirectory: work.appendingPathComponent("lora").path,
                                    data: "tiny", epochs: 2, batchSize: 8, learningRate: 1e-2)
        let trainer = try Trainer(comm: comm, config: config, task: task, progress: false)
        try trainer.run()
        let pretrained = try SafetensorsFile(url: model.appendingPathComponent("model.safetensors"))
        for entry in trainer.model.parameters.entries where entry.group == .backbone {
            XCTAssertEqual(Array(trainer.model.parameters.values[entry.range]), try pretrained.floats(entry.name), entry.name)
        }
        // …while the adapter did move (B starts at zero).
        let b = trainer.model.parameters.entry("encoder.layer.0.attention.self.query.lora_B")!
        XCTAssertTrue(trainer.model.parameters.values[b.range].contains { $0 != 0 })
    }

    /// Bad input stops every rank quickly with a message that names the problem.
    func testBadInputsStopEveryRankWithAClearMessage() throws {
        // An unknown label in the test file: file:line and the known classes.
        let bad = work.appendingPathComponent("bad-test.csv")
        try "text,label\n\"fine film\",pos\n\"odd one\",meh\n".write(to: bad, atomically: true, encoding: .utf8)
        var r = try MPILauncher.run(np: 2, ["train", "--method", "ft", "--out", work.appendingPathComponent("x").path,
                                            "--model", model.path, "--train", data.train.path, "--test", bad.path], timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("bad-test.csv:3"), r.stderr)
        XCTAssertTrue(r.stderr.contains("meh"), r.stderr)
        XCTAssertLessThan(r.seconds, 30)
        // A global batch that the ranks cannot share.
        r = try MPILauncher.run(np: 2, ["train", "--method", "ft", "--out", work.appendingPathComponent("y").path, "--batch-size", "3"]
                                    + TinyFixtures.dataArguments(model: model, data: data), timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--batch-size 3 is not divisible by the 2 ranks"), r.stderr)
        // A model directory without config.json.
        r = try MPILauncher.run(np: 2, ["train", "--method", "ft", "--out", work.appendingPathComponent("z").path,
                                        "--model", work.path, "--train", data.train.path, "--test", data.test.path], timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("no config.json"), r.stderr)
        // An unknown method (argument parsing, before MPI starts).
        r = try MPILauncher.run(np: 2, ["train", "--method", "sgd", "--out", "/tmp/never"], timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("sgd"), r.stderr)
        // A corrupt weights file.
        let corrupt = work.appendingPathComponent("corrupt")
        try FileManager.default.createDirectory(at: corrupt, withIntermediateDirectories: true)
        for name in ["config.json", "vocab.txt"] {
            try FileManager.default.copyItem(at: model.appendingPathComponent(name), to: corrupt.appendingPathComponent(name))
        }
        try Data("not a safetensors file".utf8).write(to: corrupt.appendingPathComponent("model.safetensors"))
        r = try MPILauncher.run(np: 2, ["train", "--method", "ft", "--out", work.appendingPathComponent("w").path,
                                        "--model", corrupt.path, "--train", data.train.path, "--test", data.test.path], timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("model.safetensors"), r.stderr)
        XCTAssertLessThan(r.seconds, 30)
    }

    /// `--ntk-every-epoch` writes the eNTK at the start and after every epoch; at the start it is
    /// the kernel the ntk command computes from the pretrained weights and the same initial
    /// head (an independent path: weights from the model folder, not the trainer's memory), and
    /// `report` follows it over the epochs.
    func testKernelSnapshotsStartFromTheNTKCommandsKernelAndFollowTraining() throws {
        let run = try train(np: 2, method: "ft", out: "snapshots", ["--epochs", "2", "--batch-size", "8", "--lr", "1e-2",
                                                                    "--ntk-every-epoch", "--ntk-subset", "6"])
        for epoch in 0...2 {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent("ntk/epoch-\(epoch)/kernel.json").path))
        }
        // The same examples as JSON Lines, from the ids kernel.json lists ("<file>:<line>").
        let kernelJSON = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("ntk/epoch-0/kernel.json"))) as! [String: Any]
        func examples(_ key: String) throws -> URL {
            let list = kernelJSON[key] as! [String: Any]
            let ids = list["ids"] as! [String], labels = list["labels"] as! [Int]
            let url = work.appendingPathComponent("\(key).jsonl")
            var lines: [String] = []
            for (id, label) in zip(ids, labels) {
                let parts = id.split(separator: ":")
                let file = work.appendingPathComponent(String(parts[0]))
                let row = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")[Int(parts[1])! - 1]
                let text = String(row[row.index(after: row.startIndex)..<row.lastIndex(of: "\"")!])  // "text",label
                lines.append(String(decoding: try JSONSerialization.data(withJSONObject: ["text": text, "label": label]), as: UTF8.self))
            }
            try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
            return url
        }
        let direct = work.appendingPathComponent("direct-ntk")
        let r = try MPILauncher.run(np: 2, ["ntk", "--model", model.path, "--examples", try examples("train").path,
                                            "--eval-examples", try examples("eval").path, "--classes", "2",
                                            "--method", "ft", "--seed", "1001", "--out", direct.path], timeout: 120)
        assertSucceeded(r, "ntk --method ft")
        let snapshot = try NumpyFile.read(run.appendingPathComponent("ntk/epoch-0/ntk.npy")).values
        let reference = try NumpyFile.read(direct.appendingPathComponent("ntk.npy")).values
        XCTAssertEqual(snapshot.count, 12 * 12)
        XCTAssertLessThan(try XCTUnwrap(KernelComparison.distance(reference, snapshot)), 1e-9)
        let difference = zip(snapshot, reference).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        XCTAssertLessThan(difference, 1e-6 * KernelAnalysis.frobeniusNorm(reference))
        // The kernel moved during training, and the report follows it from distance 0.
        let trajectory = try XCTUnwrap(KernelTrajectory.load(run: run))
        XCTAssertEqual(trajectory.points.map(\.epoch), [0, 1, 2])
        XCTAssertEqual(trajectory.points[0].distance ?? -1, 0, accuracy: 1e-12)
        XCTAssertGreaterThan(try XCTUnwrap(trajectory.points[2].distance), 1e-6)
        let last = try NumpyFile.read(run.appendingPathComponent("ntk/epoch-2/ntk.npy")).values
        let labels = (kernelJSON["train"] as! [String: Any])["labels"] as! [Int]
        XCTAssertEqual(try XCTUnwrap(trajectory.points[2].alignment),
                       try XCTUnwrap(KernelComparison.labelAlignment(last, labels: labels, classes: 2)), accuracy: 1e-12)
        let report = try MPILauncher.runSingle(["report", run.path, "--print", "csv", "--out", work.appendingPathComponent("report").path])
        assertSucceeded(report, "report")
        XCTAssertTrue(report.stdout.contains("# Empirical NTK during training"), report.stdout)
        // A saved copy without one epoch's ntk.npy (save-results.sh leaves large kernels out):
        // no trajectory, the start-of-training statistics still reported.
        try FileManager.default.removeItem(at: run.appendingPathComponent("ntk/epoch-2/ntk.npy"))
        XCTAssertNil(try KernelTrajectory.load(run: run))
        let saved = try MPILauncher.runSingle(["report", run.path, "--print", "csv", "--out", work.appendingPathComponent("report-saved").path])
        assertSucceeded(saved, "report without a kernel file")
        XCTAssertFalse(saved.stdout.contains("# Empirical NTK during training"), saved.stdout)
        let ftRatio = try XCTUnwrap(KernelStatistics.number((kernelJSON["analysis"] as? [String: Any])?["ft_ratio"]))
        let ntkTable = try String(contentsOf: work.appendingPathComponent("report-saved/ntk.csv"), encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let column = try XCTUnwrap(ntkTable.first?.firstIndex(of: "ft_ratio_mean"), "\(ntkTable)")
        XCTAssertEqual(ntkTable.count, 2, "one method, one row: \(ntkTable)")
        XCTAssertEqual(try XCTUnwrap(Double(ntkTable[1][column])), ftRatio, accuracy: 1e-12)
    }
}
