import Foundation
import XCTest
@testable import Distributed
@testable import Model

/// One test per class of bad input (the hardening issue): each runs the CLI under mpirun on 2
/// ranks, as users do, and checks that the job exits non-zero within seconds with a one-line
/// message naming the thing and what was expected — printed by rank 0 first — and that no
/// result file is written (a run that fails after claiming its folder leaves only FAILED).
final class BadInputTests: XCTestCase {
    var work: URL!
    var model: URL!
    var data: (train: URL, validation: URL, test: URL)!

    override func setUpWithError() throws {
        work = try TinyFixtures.temporaryDirectory("bad")
        model = work.appendingPathComponent("model")
        try TinyFixtures.writeModel(to: model)
        data = try TinyFixtures.writeData(to: work)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: work)
    }

    /// Runs `train` with the tiny model and data plus `extra` into a fresh folder; checks the
    /// failure and returns the folder and stderr.
    @discardableResult
    private func refusedTrain(_ extra: [String], expect fragments: [String], model: URL? = nil, data dataArguments: [String]? = nil,
                              file: StaticString = #filePath, line: UInt = #line) throws -> (out: URL, stderr: String) {
        let out = work.appendingPathComponent("run-\(UUID().uuidString.prefix(8))")
        let arguments = ["train", "--out", out.path, "--quiet"]
            + (dataArguments ?? TinyFixtures.dataArguments(model: model ?? self.model, data: data)) + extra
        let stderr = try refused(arguments, expect: fragments, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("metrics.json").path),
                       "a failed run wrote metrics.json", file: file, line: line)
        return (out, stderr)
    }

    /// Runs the CLI on 2 ranks and checks: non-zero exit in < 30 s, every fragment in stderr,
    /// rank 0's message first and no second rank's copy of it.
    @discardableResult
    private func refused(_ arguments: [String], expect fragments: [String], np: Int = 2,
                         file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try MPILauncher.run(np: np, arguments, timeout: 60)
        XCTAssertNotEqual(r.status, 0, "accepted: \(arguments.joined(separator: " "))", file: file, line: line)
        XCTAssertFalse(r.timedOut, file: file, line: line)
        XCTAssertLessThan(r.seconds, 30, file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(r.stderr.contains(fragment), "missing \"\(fragment)\" in:\n\(r.stderr)", file: file, line: line)
        }
        // The message is one line (rank 0's, or the parser's), and no other rank repeats it.
        let ours = r.stderr.split(separator: "\n").filter { $0.hasPrefix("rank ") || $0.hasPrefix("lpft-mpi ") }
        XCTAssertEqual(ours.count, 1, "expected one message line:\n\(r.stderr)", file: file, line: line)
        if let first = ours.first, first.hasPrefix("rank ") {
            XCTAssertTrue(first.hasPrefix("rank 0: "), "rank 0 should report first:\n\(r.stderr)", file: file, line: line)
        }
        return r.stderr
    }

    private func writeCSV(_ name: String, _ rows: [(String, String)], pair: Bool = false) throws -> URL {
        let url = work.appendingPathComponent(name)
        var lines = [pair ? "text,text_pair,label" : "text,label"]
        for (text, label) in rows { lines.append(pair ? "\"\(text)\",\"\(text) too\",\(label)" : "\"\(text)\",\(label)") }
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    /// A copy of the tiny model with config.json changed by `edit`, and vocab.txt extended by `extraWords`.
    private func modelVariant(_ name: String, extraWords: [String] = [], edit: (inout [String: Any]) -> Void = { _ in }) throws -> URL {
        let dir = work.appendingPathComponent(name)
        try FileManager.default.copyItem(at: model, to: dir)
        if !extraWords.isEmpty {
            let vocab = try String(contentsOf: dir.appendingPathComponent("vocab.txt"), encoding: .utf8)
            try (vocab + extraWords.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("vocab.txt"), atomically: true, encoding: .utf8)
        }
        let configURL = dir.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        return dir
    }

    // MARK: Tokenizer ↔ model

    func testTokenizerWithIdsBeyondTheVocabularyIsRefusedByEveryCommand() throws {
        // vocab.txt with words added at the end, and text that uses them: the ids have no row.
        let variant = try modelVariant("big-vocab", extraWords: ["zzzextra", "yyyextra"])
        let texts = try writeCSV("extra.csv", (0..<20).map { ("zzzextra good movie yyyextra", $0 % 2 == 0 ? "pos" : "neg") })
        let expected = ["big-vocab", "vocab.txt", "vocab_size", "ids ≥"]
        try refusedTrain(["--method", "ft"], expect: expected, data: ["--model", variant.path, "--train", texts.path, "--test", texts.path])
        try refused(["embed", "--model", variant.path, "--input", texts.path], expect: expected)
        try refused(["ntk", "--model", variant.path, "--examples", try ntkExamples(labels: [0, 1, 0, 1]).path, "--method", "ft",
                     "--out", work.appendingPathComponent("ntk-vocab").path], expect: expected)
        try refused(["tokenize", "--model", variant.path, "--input", texts.path], expect: expected, np: 1)
    }

    func testPairsNeedTheModelsTokenTypesAndLengthsItsPositions() throws {
        let oneType = try modelVariant("one-type") { $0["type_vocab_size"] = 1 }
        let pairs = try writeCSV("pairs.csv", (0..<20).map { ("good movie", $0 % 2 == 0 ? "pos" : "neg") }, pair: true)
        try refusedTrain(["--method", "ft", "--text-pair-column", "text_pair"], expect: ["type_vocab_size is 1", "text pairs"],
                         data: ["--model", oneType.path, "--train", pairs.path, "--test", pairs.path])
        // 130 positions in the tiny model.
        try refusedTrain(["--method", "ft", "--max-length", "200"], expect: ["--max-length 200", "130 positions"])
    }

    // MARK: Data

    func testOODSetNamesMustBeNonEmptyUniqueAndNotAStandardSplit() throws {
        try refusedTrain(["--method", "ft", "--ood", "=\(data.test.path)"], expect: ["--ood", "(empty NAME)"])
        try refusedTrain(["--method", "ft", "--ood", "test=\(data.test.path)"], expect: ["--ood test", "other than test, train, validation"])
        try refusedTrain(["--method", "ft", "--ood", "a=\(data.test.path)", "--ood", "a=\(data.validation.path)"],
                         expect: ["--ood a", "twice"])
        try refusedTrain(["--method", "ft", "--ood", "b="], expect: ["--ood b=", "NAME=FILE"])
    }

    func testAStrayLabelIsNotSilentlyAClassOfItsOwn() throws {
        for (stray, reason) in [("-1", "0…K−1 or 1…K"), ("1e9", "not a plain whole number"), ("0.5", "not a plain whole number"),
                                ("true", "the other labels of the file are whole numbers"), ("1 ", "white space")] {
            let rows = (0..<20).map { ("good movie \($0)", String($0 % 2)) } + [("odd one", stray)]
            let train = try writeCSV("stray-\(rows.count)-\(stray.hashValue).csv", rows)
            let r = try refusedTrain(["--method", "lp"], expect: ["\(train.lastPathComponent):22", "label \"\(stray)\"", reason, "--labels"],
                                     data: ["--model", model.path, "--train", train.path, "--test", train.path])
            XCTAssertTrue(FileManager.default.fileExists(atPath: r.out.appendingPathComponent("FAILED").path))
        }
        // With --labels the classes are declared: any other label is an error in every file.
        try refusedTrain(["--method", "lp", "--labels", "neg,other"], expect: ["train.csv:", "unknown label \"pos\"", "neg, other"])
        try refusedTrain(["--method", "lp", "--labels", "neg,neg"], expect: ["--labels neg,neg", "distinct"])
        // Bad UTF-8 inside a JSON Lines record is reported as such, with its line.
        let jsonl = work.appendingPathComponent("bad.jsonl")
        try (Data("{\"text\": \"good\", \"label\": \"pos\"}\n{\"text\": \"bad ".utf8) + Data([0xFF, 0xFE]) + Data("\", \"label\": \"neg\"}\n".utf8))
            .write(to: jsonl)
        try refusedTrain(["--method", "lp"], expect: ["bad.jsonl:2", "not valid UTF-8"],
                         data: ["--model", model.path, "--train", jsonl.path, "--test", data.test.path])
    }

    // MARK: Numeric flags

    /// A flag the method does not use is refused before anything runs, rather than recorded in
    /// config.json as if it had shaped the run.
    func testFlagsOfAnotherMethodAreRefused() throws {
        let cases: [([String], [String])] = [
            (["--method", "ft", "--lora-r", "4"], ["--lora-r", "lora or lp-lora", "method ft"]),
            (["--method", "lp-ft", "--lora-alpha", "16"], ["--lora-alpha", "method lp-ft"]),
            (["--method", "lp", "--head-scale", "10"], ["--head-scale 10.0", "--method lp"]),
        ]
        for (extra, expected) in cases {
            let r = try refusedTrain(extra, expect: expected)
            XCTAssertFalse(FileManager.default.fileExists(atPath: r.out.path), "\(extra) created \(r.out.path)")
        }
    }

    /// A table flag that would be ignored (a built-in task has its own format; a paper format
    /// its own columns) is refused, in train and in evaluate alike.
    func testTableFlagsThatWouldBeIgnoredAreRefused() throws {
        let task = ["--task", "sentiment-ood", "--method", "ft"]
        try refusedTrain(["--format", "rte"], expect: ["--format goes with data files", "--task"], data: task)
        try refusedTrain(["--label-column", "y"], expect: ["--label-column goes with data files"], data: task)
        try refusedTrain(["--method", "ft", "--format", "rte", "--text-column", "sentence"],
                         expect: ["--text-column goes with generic tables", "--format rte"])
        try refused(["evaluate", "--model", model.path, "--task", "sentiment-ood", "--text-column", "s"],
                    expect: ["--text-column goes with --test FILE"])
    }

    /// `sweep run` refuses a flag of the other scheduler (it would be ignored), before it looks
    /// at the sweep folder.
    func testSweepRunRefusesTheOtherSchedulersFlags() throws {
        let folder = work.appendingPathComponent("no-sweep").path
        for (flags, expected) in [(["--cpus-per-task", "4"], "--cpus-per-task goes with --scheduler slurm"),
                                  (["--launch", "srun"], "--launch goes with --scheduler slurm"),
                                  (["--scheduler", "slurm", "--launch-script", "/bin/true"], "--launch-script goes with --scheduler local"),
                                  (["--scheduler", "slurm", "--parallel", "2"], "--parallel goes with --scheduler local")] {
            let r = try MPILauncher.runSingle(["sweep", "run", folder] + flags, timeout: 30)
            XCTAssertNotEqual(r.status, 0, "accepted: \(flags)")
            XCTAssertTrue(r.stderr.contains(expected), "missing \"\(expected)\" in:\n\(r.stderr)")
        }
    }

    func testEveryNumericFlagIsFiniteAndInItsRange() throws {
        let cases: [([String], [String])] = [
            (["--method", "ft", "--eval-batch-size", "0"], ["--eval-batch-size 0", "from 1 to"]),
            (["--method", "ft", "--epochs", "-1"], ["--epochs -1", "from 1 to"]),
            (["--method", "ft", "--epochs", "9223372036854775807"], ["--epochs 9223372036854775807"]),
            (["--method", "ft", "--batch-size", "100000000"], ["--batch-size 100000000"]),
            (["--method", "ft", "--weight-decay", "nan"], ["--weight-decay nan", "finite"]),
            (["--method", "ft", "--lr", "inf"], ["--lr inf", "finite"]),
            (["--method", "lp-ft", "--head-scale", "inf"], ["--head-scale inf"]),
            (["--method", "lora", "--lora-alpha", "nan"], ["--lora-alpha nan"]),
            (["--method", "ft", "--dropout", "1"], ["--dropout 1.0", "less than 1"]),
            (["--method", "ft", "--warmup-ratio", "-0.5"], ["--warmup-ratio -0.5"]),
            (["--method", "ft", "--max-train", "1"], ["--max-train 1"]),
            (["--method", "ft", "--stall-timeout", "nan"], ["--stall-timeout nan"]),
        ]
        for (extra, expected) in cases {
            let r = try refusedTrain(extra, expect: expected)
            // Refused while parsing: nothing was created.
            XCTAssertFalse(FileManager.default.fileExists(atPath: r.out.path), "\(extra) created \(r.out.path)")
        }
        // Checked against the model (hidden size 16) and the data (40 training examples).
        try refusedTrain(["--method", "lora", "--lora-r", "1000"], expect: ["--lora-r 1000", "from 1 to 16"])
        try refusedTrain(["--method", "ft", "--batch-size", "64"], expect: ["--batch-size 64", "40 examples"])
        // ntk and embed.
        let examples = try ntkExamples(labels: [0, 1, 0, 1])
        try refused(["ntk", "--model", model.path, "--examples", examples.path, "--method", "ft", "--slab-width", "0",
                     "--out", work.appendingPathComponent("ntk-slab").path], expect: ["--slab-width 0"])
        try refused(["ntk", "--model", model.path, "--examples", examples.path, "--method", "ft", "--memory-budget", "1e30GiB",
                     "--out", work.appendingPathComponent("ntk-budget").path], expect: ["--memory-budget 1e30GiB"])
        for max in ["-1", "-3", "0"] {
            try refused(["embed", "--model", model.path, "--input", data.test.path, "--first=\(max)"], expect: ["--first \(max)"])
        }
        try refused(["embed", "--model", model.path, "--input", data.test.path, "--eval-batch-size", "0"], expect: ["--eval-batch-size 0"])
    }

    func testAKernelOfOneClassIsRefused() throws {
        try refused(["ntk", "--model", model.path, "--examples", try ntkExamples(labels: [0, 0, 0]).path, "--classes", "2",
                     "--method", "ft", "--out", work.appendingPathComponent("ntk-one").path],
                    expect: ["label 0", "at least 2 classes"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: work.appendingPathComponent("ntk-one/kernel.json").path))
    }

    // MARK: Output folders

    func testOutputFoldersAreClaimedNotShared() throws {
        let out = work.appendingPathComponent("claimed")
        let first = try MPILauncher.run(np: 2, ["train", "--method", "lp", "--out", out.path, "--quiet"]
                                            + TinyFixtures.dataArguments(model: model, data: data), timeout: 120)
        assertSucceeded(first, "first run")
        let metrics = out.appendingPathComponent("metrics.json"), config = out.appendingPathComponent("config.json")
        let before = try Data(contentsOf: metrics), configBefore = try Data(contentsOf: config)
        // Another run into the same folder: refused before it writes anything.
        try refused(["train", "--method", "ft", "--epochs", "1", "--out", out.path, "--quiet"] + TinyFixtures.dataArguments(model: model, data: data),
                    expect: ["already holds another run", "--resume", "--overwrite"])
        XCTAssertEqual(try Data(contentsOf: metrics), before)
        XCTAssertEqual(try Data(contentsOf: config), configBefore)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("FAILED").path))
        // --resume with other settings names them.
        try refused(["train", "--method", "lp", "--max-length", "64", "--out", out.path, "--quiet", "--resume"]
                        + TinyFixtures.dataArguments(model: model, data: data),
                    expect: ["--max-length 128 (now 64)"])
        // A run that fails after claiming its folder: FAILED with the message, no metrics.json.
        let failing = work.appendingPathComponent("failing")
        let badTest = try writeCSV("bad-test.csv", [("fine film", "pos"), ("odd one", "meh")])
        try refused(["train", "--method", "lp", "--out", failing.path, "--quiet", "--model", model.path,
                     "--train", data.train.path, "--test", badTest.path], expect: ["bad-test.csv:3", "meh"])
        let failed = try String(contentsOf: failing.appendingPathComponent("FAILED"), encoding: .utf8)
        XCTAssertTrue(failed.contains("bad-test.csv:3"), failed)
        XCTAssertFalse(FileManager.default.fileExists(atPath: failing.appendingPathComponent("metrics.json").path))
        // A folder that cannot be made: the path, what was done, why, in our words.
        let blocker = work.appendingPathComponent("a-file")
        try Data().write(to: blocker)
        try refused(["train", "--method", "lp", "--out", blocker.appendingPathComponent("run").path, "--quiet"]
                        + TinyFixtures.dataArguments(model: model, data: data),
                    expect: ["cannot create the folder", "a-file/run"])
    }

    func testSweepPlanChecksEveryRunAsTrainWouldAndNamesTheGridLine() throws {
        for (line, setting) in [("  epochs: 0", "--epochs 0"), ("  batch-size: 0", "--batch-size 0"), ("  dropout: 1.5", "--dropout 1.5")] {
            let grid = work.appendingPathComponent("grid-\(setting.hashValue).yaml")
            try """
                tasks: [sentiment-ood]
                methods: [ft]
                seeds: [1]
                parameters:
                  max-train: 64
                \(line)
                """.write(to: grid, atomically: true, encoding: .utf8)
            let sweep = work.appendingPathComponent("sweep-\(setting.hashValue)")
            let r = try MPILauncher.runSingle(["sweep", "plan", grid.path, "--out", sweep.path], timeout: 60)
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("\(grid.lastPathComponent):6:"), r.stderr)
            XCTAssertTrue(r.stderr.contains(setting), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: sweep.appendingPathComponent("manifest.jsonl").path))
        }
    }

    /// JSON Lines examples for `ntk --examples` with the given labels.
    private func ntkExamples(labels: [Int]) throws -> URL {
        let url = work.appendingPathComponent("examples-\(labels.map(String.init).joined()).jsonl")
        let lines = labels.enumerated().map { "{\"text\": \"good movie \($0.offset)\", \"label\": \($0.element)}" }
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }
}
