import Foundation
import XCTest
@testable import Distributed
@testable import Model

/// The model a run leaves (OUT/model, OUT/adapter, OUT/logits) and the commands that use it —
/// predict, evaluate, export, ntk, embed — through the CLI under mpirun, on the tiny BERT.
final class ExportCommandTests: XCTestCase {
    var work: URL!
    var model: URL!
    var data: (train: URL, validation: URL, test: URL)!

    override func setUpWithError() throws {
        work = try TinyFixtures.temporaryDirectory("export")
        model = work.appendingPathComponent("model")
        try TinyFixtures.writeModel(to: model)
        data = try TinyFixtures.writeData(to: work)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: work)
    }

    private func train(np: Int, method: String, out: String, _ extra: [String] = []) throws -> URL {
        try trainTiny(np: np, method: method, out: out, work: work, model: model, data: data,
                      ["--epochs", "2", "--batch-size", "8"] + extra)
    }

    private func json(_ url: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// The texts of a CSV of the tiny data as predict's JSONL input.
    private func textsOf(_ csv: URL) throws -> URL {
        let examples = try GenericTableSpec().read(csv, classNames: ["neg", "pos"])
        let lines = try examples.map { String(decoding: try JSONSerialization.data(withJSONObject: ["text": $0.text]), as: UTF8.self) }
        let url = work.appendingPathComponent(csv.deletingPathExtension().lastPathComponent + ".jsonl")
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private func predict(np: Int, _ folder: URL, input: URL, _ extra: [String] = []) throws -> (data: Data, rows: [[String: Any]]) {
        let out = work.appendingPathComponent("predict-\(UUID().uuidString).jsonl")
        let r = try MPILauncher.run(np: np, ["predict", "--model", folder.path, "--input", input.path, "--out", out.path] + extra, timeout: 120)
        assertSucceeded(r, "predict np=\(np)")
        let bytes = try Data(contentsOf: out)
        let rows = try String(decoding: bytes, as: UTF8.self).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        return (bytes, rows)
    }

    /// Logits of predict's rows, as the float32 values they print.
    private func logits(_ rows: [[String: Any]]) -> [Float] {
        rows.flatMap { ($0["logits"] as! [Double]).map(Float.init) }
    }

    private func runLogits(_ run: URL, _ set: String) throws -> [Float] {
        try NumpyFile.read(run.appendingPathComponent("logits/\(set).npy")).values.map(Float.init)
    }

    // MARK: Train's folders

    /// OUT/model is a Hugging Face folder with the head files; predict on the run's test set
    /// gives the run's own logits bit for bit at the same number of ranks and batch size, and
    /// the same output at np = 1, 2 and 3.
    func testPredictGivesTheRunsLogitsOnAnyNumberOfRanks() throws {
        let run = try train(np: 2, method: "ft", out: "ft", ["--ood", "again=\(data.test.path)"])
        let folder = run.appendingPathComponent("model")
        for name in ["config.json", "model.safetensors", "vocab.txt", "classifier.safetensors", "lpft.json", "README.md"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path), name)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("adapter").path), "FT has no adapter")
        let base = try SafetensorsFile(url: model.appendingPathComponent("model.safetensors"))
        let exported = try SafetensorsFile(url: folder.appendingPathComponent("model.safetensors"))
        XCTAssertEqual(exported.tensorNames, base.tensorNames)
        for name in base.tensorNames { XCTAssertEqual(exported.info(name)?.shape, base.info(name)?.shape, name) }
        let manifest = try json(folder.appendingPathComponent("lpft.json"))
        let metrics = try json(run.appendingPathComponent("metrics.json"))
        let eval = metrics["eval"] as! [String: [String: Any]]
        XCTAssertEqual(manifest["class_names"] as? [String], ["neg", "pos"])
        XCTAssertEqual(manifest["feature"] as? String, "cls")
        XCTAssertEqual(manifest["temperature"] as? Double, eval["validation"]?["temperature"] as? Double)
        XCTAssertEqual(manifest["max_length"] as? Int, 128)
        XCTAssertEqual(manifest["run_id"] as? String, "ft")
        XCTAssertEqual(try runLogits(run, "again"), try runLogits(run, "test"))

        let input = try textsOf(data.test)
        let outputs = try [1, 2, 3].map { try predict(np: $0, folder, input: input) }
        XCTAssertEqual(outputs[0].data, outputs[1].data, "np 1 = np 2")
        XCTAssertEqual(outputs[0].data, outputs[2].data, "np 1 = np 3")
        XCTAssertEqual(logits(outputs[1].rows), try runLogits(run, "test"), "bit for bit the run's logits")
        // Probabilities are softmax(logits / T); the label is the argmax.
        let T = manifest["temperature"] as! Double
        let z = try Logits(logits(outputs[1].rows), classes: 2)
        let expected = z.probabilities(temperature: T)
        for (row, r) in outputs[1].rows.enumerated() {
            // (JSONSerialization may read the last digit of a double differently.)
            for (p, q) in zip(r["probabilities"] as! [Double], expected[(2 * row)..<(2 * row + 2)]) { XCTAssertEqual(p, q, accuracy: 1e-15) }
            XCTAssertEqual(r["label_id"] as? Int, z.predictions()[row])
            XCTAssertEqual(r["label"] as? String, ["neg", "pos"][z.predictions()[row]])
        }
        let plain = try predict(np: 2, folder, input: input, ["--no-temperature", "--eval-batch-size", "5"])
        let unscaled = try Logits(logits(plain.rows), classes: 2).probabilities(temperature: 1)
        for (p, q) in zip(plain.rows.flatMap { $0["probabilities"] as! [Double] }, unscaled) { XCTAssertEqual(p, q, accuracy: 1e-15) }
    }

    /// evaluate on the run's test file reproduces metrics.json's test entry exactly, and adds
    /// per-class scores and the confusion matrix.
    func testEvaluateReproducesTheRunsTestMetrics() throws {
        let run = try train(np: 2, method: "lp-ft", out: "lpft")
        let out = work.appendingPathComponent("eval.json")
        let r = try MPILauncher.run(np: 2, ["evaluate", "--model", run.appendingPathComponent("model").path,
                                            "--test", data.test.path, "--out", out.path], timeout: 120)
        assertSucceeded(r, "evaluate")
        let report = try json(out)
        let expected = (try json(run.appendingPathComponent("metrics.json"))["eval"] as! [String: Any])["test"]!
        XCTAssertEqual(try JSONSerialization.data(withJSONObject: report["metrics"]!, options: .sortedKeys),
                       try JSONSerialization.data(withJSONObject: expected, options: .sortedKeys))
        let confusion = report["confusion_matrix"] as! [[Int]]
        XCTAssertEqual(confusion.flatMap { $0 }.reduce(0, +), 16)
        let perClass = report["per_class"] as! [[String: Any]]
        XCTAssertEqual(perClass.map { $0["class_name"] as! String }, ["neg", "pos"])
        XCTAssertEqual(perClass.map { $0["support"] as! Int }, confusion.map { $0.reduce(0, +) })
        for text in ["accuracy", "ECE", "precision", "confusion matrix"] { XCTAssertTrue(r.stdout.contains(text), r.stdout) }
    }

    // MARK: export

    /// export rebuilds the folders train wrote, byte for byte: LP-LoRA (lora.safetensors,
    /// adapter/), LP (head.safetensors), FT trained with --save-model none (its last checkpoint);
    /// the merged LoRA model computes the run's unmerged logits to 1e-5.
    func testExportRebuildsTheFoldersTrainWrote() throws {
        let lora = try train(np: 2, method: "lp-lora", out: "lplora", ["--lr", "1e-2"])
        let lp = try train(np: 1, method: "lp", out: "lp")
        for (run, folders) in [(lora, ["model", "adapter"]), (lp, ["model"])] {
            let out = work.appendingPathComponent("exported-\(run.lastPathComponent)")
            let r = try MPILauncher.runSingle(["export", run.path, "--out", out.path])
            assertSucceeded(r, "export \(run.lastPathComponent)")
            for folder in folders {
                let files = try FileManager.default.contentsOfDirectory(atPath: run.appendingPathComponent(folder).path).sorted()
                XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent(folder).path).sorted(), files)
                for file in files {
                    XCTAssertEqual(try Data(contentsOf: out.appendingPathComponent("\(folder)/\(file)")),
                                   try Data(contentsOf: run.appendingPathComponent("\(folder)/\(file)")), "\(folder)/\(file)")
                }
            }
        }
        let merged = logits(try predict(np: 2, lora.appendingPathComponent("model"), input: try textsOf(data.test)).rows)
        let unmerged = try runLogits(lora, "test")
        XCTAssertEqual(merged.count, unmerged.count)
        XCTAssertLessThanOrEqual(zip(merged, unmerged).map { abs($0 - $1) }.max()!, 1e-5)
        XCTAssertTrue(try json(lora.appendingPathComponent("adapter/adapter_config.json"))["target_modules"] as? [String] == ["query", "value"])

        let ft = try train(np: 2, method: "ft", out: "ft-nosave", ["--save-model", "none"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: ft.appendingPathComponent("model").path), "--save-model none")
        XCTAssertTrue(FileManager.default.fileExists(atPath: ft.appendingPathComponent("logits/test.npy").path))
        assertSucceeded(try MPILauncher.runSingle(["export", ft.path, "--out", ft.path]), "export into the run")
        XCTAssertEqual(logits(try predict(np: 2, ft.appendingPathComponent("model"), input: try textsOf(data.test)).rows),
                       try runLogits(ft, "test"), "the exported FT model gives the run's logits")
        // A checkpoint: the parameters after its epoch, temperature not fitted.
        let checkpoint = work.appendingPathComponent("checkpoint")
        assertSucceeded(try MPILauncher.runSingle(["export", ft.path, "--checkpoint", "epoch-2", "--out", checkpoint.path]), "export epoch-2")
        let manifest = try json(checkpoint.appendingPathComponent("model/lpft.json"))
        XCTAssertEqual(manifest["temperature"] as? Double, 1)
        XCTAssertTrue((manifest["parameters"] as! String).hasPrefix("checkpoint epoch-2"))
        // Without checkpoints an FT run's encoder is gone: a clear refusal.
        try FileManager.default.removeItem(at: ft.appendingPathComponent("checkpoints"))
        let refused = try MPILauncher.runSingle(["export", ft.path, "--out", work.appendingPathComponent("gone").path])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("kept only in OUT/model"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("gone").path))
    }

    // MARK: ntk and embed

    /// The fine-tuned folder is a model directory like any other: ntk computes its kernel with
    /// its head, embed embeds with it; both differ from the base model's.
    func testFineTunedFolderFeedsNTKAndEmbed() throws {
        let run = try train(np: 2, method: "ft", out: "ft", ["--lr", "1e-2"])
        let folder = run.appendingPathComponent("model")
        let examples = try GenericTableSpec().read(data.test, classNames: ["neg", "pos"]).prefix(6)
        let lines = try examples.map {
            String(decoding: try JSONSerialization.data(withJSONObject: ["text": $0.text, "label": $0.label]), as: UTF8.self)
        }
        let file = work.appendingPathComponent("ntk.jsonl")
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        var kernels: [[Double]] = []
        for source in [folder, model!] {
            let out = work.appendingPathComponent("ntk-\(source.lastPathComponent)-\(UUID().uuidString)")
            let r = try MPILauncher.run(np: 2, ["ntk", "--model", source.path, "--head", folder.appendingPathComponent("classifier.safetensors").path,
                                                "--examples", file.path, "--out", out.path], timeout: 120)
            assertSucceeded(r, "ntk --model \(source.lastPathComponent)")
            kernels.append(try NumpyFile.read(out.appendingPathComponent("ntk.npy")).values)
        }
        XCTAssertEqual(kernels[0].count, 144)
        XCTAssertNotEqual(kernels[0], kernels[1], "the fine-tuned kernel is not the base model's")
        var embeddings: [String] = []
        for source in [folder, model!] {
            let r = try MPILauncher.run(np: 2, ["embed", "--model", source.path, "--input", try textsOf(data.test).path], timeout: 120)
            assertSucceeded(r, "embed --model \(source.lastPathComponent)")
            XCTAssertEqual(r.stdout.split(separator: "\n").count, 16)
            embeddings.append(r.stdout)
        }
        XCTAssertNotEqual(embeddings[0], embeddings[1])
    }

    // MARK: Bad input

    /// Each stops every rank quickly with a message that says what is wrong and what to do,
    /// and writes no output file.
    func testBadInputsStopEveryRankWithAClearMessage() throws {
        let input = try textsOf(data.test)
        let out = work.appendingPathComponent("never.jsonl")
        func failing(_ args: [String], np: Int = 2, _ phrases: [String], file: StaticString = #filePath, line: UInt = #line) throws {
            let r = try MPILauncher.run(np: np, args + ["--out", out.path], timeout: 60)
            XCTAssertNotEqual(r.status, 0, "\(args) must fail", file: file, line: line)
            for phrase in phrases { XCTAssertTrue(r.stderr.contains(phrase), "\(phrase) not in: \(r.stderr)", file: file, line: line) }
            XCTAssertLessThan(r.seconds, 30, file: file, line: line)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "no output file", file: file, line: line)
        }
        // A bare encoder (the base model): no head files.
        try failing(["predict", "--model", model.path, "--input", input.path],
                    ["has no classifier.safetensors", "lpft-mpi embed --model \(model.path)"])
        let run = try train(np: 1, method: "lp", out: "lp")
        let folder = run.appendingPathComponent("model")
        // Evaluation labels the model does not know: file:line, the label, the known classes.
        let bad = work.appendingPathComponent("bad.csv")
        try "text,label\n\"fine film\",pos\n\"odd one\",meh\n".write(to: bad, atomically: true, encoding: .utf8)
        try failing(["evaluate", "--model", folder.path, "--test", bad.path], ["bad.csv:3", "\"meh\"", "neg, pos"])
        // A built-in task whose classes are not the model's, matched by name.
        if AssetLocator.dataRoot() != nil {
            try failing(["evaluate", "--model", folder.path, "--task", "rt-polarity"], ["label \"negative\"", "neg, pos"])
        }
        // The adapter folder is not a model.
        let lora = try train(np: 1, method: "lora", out: "lora")
        try failing(["predict", "--model", lora.appendingPathComponent("adapter").path, "--input", input.path],
                    ["PEFT adapter folder", "../model"])
        // A folder whose files disagree.
        let manifestURL = folder.appendingPathComponent("lpft.json")
        let original = try Data(contentsOf: manifestURL)
        var manifest = try json(manifestURL)
        manifest["class_names"] = ["neg", "pos", "mixed"]
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        try failing(["predict", "--model", folder.path, "--input", input.path], ["classifier.safetensors", "2 rows but lpft.json lists 3"])
        manifest["class_names"] = ["neg", "pos"]
        manifest["feature"] = "last"
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        try failing(["predict", "--model", folder.path, "--input", input.path], ["lpft.json", "feature \"last\"", "\"cls\""])
        try original.write(to: manifestURL)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("lpft.json"))
        try failing(["evaluate", "--model", folder.path, "--test", data.test.path], ["has no lpft.json"])
        // export of a folder that is not a run.
        try failing(["export", model.path], np: 1, ["config.json", "not a train configuration"])
    }

    /// A grid can turn model saving off: the parameter becomes train's flag.
    func testGridCanTurnModelSavingOff() throws {
        let grid = try SweepGrid.parse("tasks: [sentiment-ood]\nmethods: [ft]\nseeds: [1]\nparameters: {save-model: none}\n", source: "grid.yaml")
        let arguments = try XCTUnwrap(grid.expand().first).arguments
        XCTAssertEqual(Array(arguments.suffix(2)), ["--save-model", "none"])
    }
}
