import Foundation
import XCTest
@testable import Distributed

/// Grid files, manifests, run ids and the Slurm script (no processes launched).
final class GridTests: XCTestCase {
    let yaml = """
        name: demo
        tasks: [sentiment-ood, {name: tiny, train: t.csv, test: s.csv, ood: [a=a.csv, b=b.csv]}]
        methods: [lp, ft, lora]
        seeds: [1001, 2002]
        parameters:
          epochs: 3
          lr: [1e-5, 5e-5]
          head-scale: 100.0
        overrides:
          lora: {lr: [5e-4, 1e-3, 2e-3]}
          lp: {lr: null, epochs: null}
        """

    /// Published FNV-1a 64 test vectors (Fowler/Noll/Vo reference values).
    func testFNV1aVectors() {
        XCTAssertEqual(FNV1a64.hash(""), 0xCBF2_9CE4_8422_2325)
        XCTAssertEqual(FNV1a64.hash("a"), 0xAF63_DC4C_8601_EC8C)
        XCTAssertEqual(FNV1a64.hash("foobar"), 0x8594_4171_F739_67E8)
        XCTAssertEqual(FNV1a64.hex("a"), "af63dc4c8601ec8c")
    }

    func testExpansionCountsArgumentsAndOverrides() throws {
        let grid = try SweepGrid.parse(yaml, source: "grid.yaml")
        XCTAssertEqual(grid.name, "demo")
        let runs = try grid.expand()
        // Per task: lp 1 combination, ft 2 learning rates, lora 3 learning rates; × 2 seeds; × 2 tasks.
        XCTAssertEqual(runs.count, 2 * (1 + 2 + 3) * 2)
        XCTAssertEqual(Set(runs.map(\.id)).count, runs.count)
        let lp = runs.first { $0.method == "lp" && $0.task == "sentiment-ood" }!
        XCTAssertEqual(lp.arguments, ["--task", "sentiment-ood", "--method", "lp", "--seed", "1001", "--head-scale", "100"])
        let ft = runs.filter { $0.method == "ft" && $0.task == "tiny" && $0.seed == 2002 }
        XCTAssertEqual(ft.map { $0.parameters["lr"]! }, [.real(1e-5), .real(5e-5)])
        XCTAssertEqual(ft[0].arguments, ["--ood", "a=a.csv", "--ood", "b=b.csv", "--test", "s.csv", "--train", "t.csv",
                                         "--method", "ft", "--seed", "2002", "--epochs", "3", "--head-scale", "100", "--lr", "1e-05"])
        XCTAssertEqual(Set(runs.filter { $0.method == "lora" }.map { $0.parameters["lr"]!.description }), ["0.0005", "0.001", "0.002"])
        // The id: readable prefix, then the first 10 hex digits of FNV-1a 64 over the
        // canonical JSON of the arguments (written out by hand here).
        let canonical = "[\"--task\",\"sentiment-ood\",\"--method\",\"lp\",\"--seed\",\"1001\",\"--head-scale\",\"100\"]"
        XCTAssertEqual(lp.id, "sentiment-ood-lp-s1001-" + FNV1a64.hex(canonical).prefix(10))
    }

    /// The same grid written as JSON (numbers as text or numbers, keys in another order)
    /// gives the same runs and ids; changing one value changes exactly the affected ids.
    func testIdsAreStableAcrossFormatsAndSensitiveToSettings() throws {
        let json = """
            {"seeds": [1001, 2002], "methods": ["lp", "ft", "lora"],
             "overrides": {"lp": {"epochs": null, "lr": null}, "lora": {"lr": [0.0005, "1e-3", 0.002]}},
             "parameters": {"head-scale": 100, "lr": ["1e-5", 5e-05], "epochs": 3.0},
             "tasks": ["sentiment-ood", {"ood": ["a=a.csv", "b=b.csv"], "test": "s.csv", "train": "t.csv", "name": "tiny"}]}
            """
        let fromYAML = try SweepGrid.parse(yaml, source: "grid.yaml").expand()
        let fromJSON = try SweepGrid.parse(json, source: "grid.json").expand()
        XCTAssertEqual(fromYAML, fromJSON)
        let changed = try SweepGrid.parse(yaml.replacingOccurrences(of: "epochs: 3", with: "epochs: 4"), source: "g").expand()
        let before = Dictionary(uniqueKeysWithValues: fromYAML.map { ($0.id, $0) })
        for run in changed {
            XCTAssertEqual(before[run.id] != nil, run.method == "lp", "\(run.id): only lp (no epochs) keeps its id")
        }
    }

    /// The run count comes from the axis lengths (here 2 tasks × 2 seeds × (1 + 2 + 3)), and a
    /// grid over the limit is refused before any run is made, naming file, count, limit and axes;
    /// a count that overflows Int saturates instead of trapping.
    func testGridsOverTheRunLimitAreRefusedBeforeExpansion() throws {
        let grid = try SweepGrid.parse(yaml, source: "grid.yaml")
        XCTAssertEqual(grid.combinationCount, 24)
        XCTAssertEqual(try grid.expand(limit: 24).count, 24)
        XCTAssertThrowsError(try grid.expand(limit: 23, source: "grid.yaml")) { error in
            let message = error.localizedDescription
            for part in ["grid.yaml", "expands to 24 runs", "limit of 23", "2 task(s) × 2 seed(s)", "lora: lr 3", "ft: lr 2",
                         "lp: no parameter axes", "--max-runs"] {
                XCTAssertTrue(message.contains(part), "'\(part)' missing from: \(message)")
            }
        }
        // 1000 values on each of 7 axes: 10^21 combinations, more than Int.max.
        let axis = (0..<1000).map { FlagValue.integer($0) }
        let huge = SweepGrid(tasks: [.builtin("sentiment-ood")], methods: [.ft], seeds: [1],
                             parameters: Dictionary(uniqueKeysWithValues: (0..<7).map { ("flag\($0)", axis) }))
        XCTAssertEqual(huge.combinationCount, Int.max)
        XCTAssertThrowsError(try huge.expand()) { error in
            XCTAssertTrue(error.localizedDescription.contains("more than \(Int.max) runs"), error.localizedDescription)
        }
    }

    func testDuplicateRunsCollapse() throws {
        let grid = SweepGrid(tasks: [.builtin("sentiment-ood")], methods: [.lp], seeds: [1, 1],
                             parameters: ["lr": [.real(1e-5), .real(2e-5)]], overrides: [.lp: ["lr": nil]])
        XCTAssertEqual(try grid.expand().count, 1)
    }

    func testBadGridsNameTheProblemAndTheLine() {
        func message(_ text: String) -> String {
            do { _ = try SweepGrid.parse(text, source: "g.yaml"); return "no error" } catch { return error.localizedDescription }
        }
        let base = "tasks: [sentiment-ood]\nmethods: [ft]\nseeds: [1]\n"
        XCTAssertTrue(message("tasks: [sentiment-ood]\nmethods: [ft, fine-tune]\nseeds: [1]\n").hasPrefix("g.yaml:2:"))
        XCTAssertTrue(message("tasks: [sentiment-ood]\nmethods: [ft, fine-tune]\nseeds: [1]\n").contains("unknown method 'fine-tune'"))
        XCTAssertTrue(message(base + "parameters: {out: x}\n").contains("'out' is set by the sweep"))
        XCTAssertTrue(message(base + "parameters: {seed: 3}\n").contains("list seeds under 'seeds'"))
        XCTAssertTrue(message(base + "parameters: {task: x}\n").contains("put it in a task map"))
        XCTAssertTrue(message(base + "parameters: {lr: null}\n").contains("null is only allowed in overrides"))
        XCTAssertTrue(message(base + "parameters: {lr: []}\n").contains("empty list"))
        XCTAssertTrue(message(base + "parameters: {--lr: 1}\n").contains("without dashes"))
        XCTAssertTrue(message(base + "grid: {}\n").contains("unknown key 'grid'"))
        XCTAssertTrue(message("tasks: [sentiment-ood]\nmethods: [ft]\n").contains("missing 'seeds'"))
        XCTAssertTrue(message("tasks: [sentiment-ood]\nmethods: [ft]\nseeds: [-1]\n").contains("seeds must be whole numbers"))
        XCTAssertTrue(message("tasks: [{train: a.csv}]\nmethods: [ft]\nseeds: [1]\n").contains("needs a 'name'"))
        XCTAssertTrue(message("tasks: [a\nmethods: [ft]").contains("not valid YAML"))
        XCTAssertTrue(message("- 1\n- 2\n").contains("expected a mapping"))
    }

    func testManifestRoundTripAndStates() throws {
        let directory = try TinyFixtures.temporaryDirectory("manifest")
        defer { try? FileManager.default.removeItem(at: directory) }
        let sweep = SweepDirectory(directory)
        let runs = try SweepGrid.parse(yaml, source: "g").expand()
        try sweep.writePlan(runs)
        XCTAssertEqual(try sweep.readManifest(), runs)
        let lines = try String(contentsOf: sweep.manifestURL, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, runs.count)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(first["id"] as? String, runs[0].id)
        XCTAssertEqual(first["arguments"] as? [String], runs[0].arguments)

        XCTAssertEqual(sweep.state(of: runs[0].id), .pending)
        try FileManager.default.createDirectory(at: sweep.logsURL, withIntermediateDirectories: true)
        try "3\n".write(to: sweep.exitURL(runs[0].id), atomically: true, encoding: .utf8)
        XCTAssertEqual(sweep.state(of: runs[0].id), .failed(status: 3))
        XCTAssertTrue(sweep.statusSummary(runs).contains("\(runs[0].id) (exit 3): \(sweep.logURL(runs[0].id).path)"))
        try FileManager.default.createDirectory(at: sweep.runDirectory(runs[0].id), withIntermediateDirectories: true)
        try "{}".write(to: sweep.runDirectory(runs[0].id).appendingPathComponent("metrics.json"), atomically: true, encoding: .utf8)
        XCTAssertEqual(sweep.state(of: runs[0].id), .complete)

        try "{\"id\": 1}\n".write(to: sweep.manifestURL, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try sweep.readManifest()) { XCTAssertTrue($0.localizedDescription.contains("manifest.jsonl:1:")) }
    }

    /// Regression (fuzz target `grid`): an integral real beyond 9·10^15 was planned as a real
    /// but read back from manifest.jsonl as an integer (JSON writes 1e16 as `1e+16`, which
    /// decodes as an Int), so the plan and the manifest disagreed. 1e16 = 10^16 exactly.
    func testLargeIntegralRealsReadBackFromTheManifestUnchanged() throws {
        XCTAssertEqual(FlagValue.number(1e16), .integer(10_000_000_000_000_000))
        XCTAssertEqual(FlagValue.parsing("1e16"), .integer(10_000_000_000_000_000))
        XCTAssertEqual(FlagValue.number(2.5e300), .real(2.5e300))
        XCTAssertEqual(FlagValue.number(-4.0), .integer(-4))
        let grid = "tasks: [sentiment-ood]\nmethods: [ft]\nseeds: [1]\nparameters: {lr: [1e16, 2.5e300], head-scale: 1.0e+16}\n"
        let runs = try SweepGrid.parse(grid, source: "g.yaml").expand()
        XCTAssertEqual(runs.count, 2)
        XCTAssertEqual(runs[0].arguments.suffix(4), ["--head-scale", "10000000000000000", "--lr", "10000000000000000"])
        XCTAssertEqual(runs[1].arguments.suffix(2), ["--lr", "2.5e+300"])
        let directory = try TinyFixtures.temporaryDirectory("large-reals")
        defer { try? FileManager.default.removeItem(at: directory) }
        let sweep = SweepDirectory(directory)
        try sweep.writePlan(runs)
        XCTAssertEqual(try sweep.readManifest(), runs)
    }

    /// Regression (fuzz target `grid`): Yams composes nodes recursively, so deep nesting crashed
    /// with a stack overflow; such text is now refused before Yams reads it, naming the file
    /// (and the line for indentation, counted over any YAML line break).
    func testDeeplyNestedGridsAreRefusedBeforeParsing() {
        func message(_ text: String) -> String {
            do { _ = try SweepGrid.parse(text, source: "g.yaml"); return "no error" } catch { return error.localizedDescription }
        }
        let depth = 200_000
        let flow = message("tasks: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
        XCTAssertTrue(flow.hasPrefix("g.yaml: \(depth) '[' and '{' (at most 400)"), flow)
        let maps = message(String(repeating: "{a: ", count: depth) + "1" + String(repeating: "}", count: depth))
        XCTAssertTrue(maps.hasPrefix("g.yaml: \(depth) '[' and '{'"), maps)
        let compact = message(String(repeating: "- ", count: depth) + "x\n")
        XCTAssertTrue(compact.hasPrefix("g.yaml:1: indented too deeply"), compact)
        XCTAssertTrue(compact.contains("allow \(2 * depth + 3) levels"), compact)
        // Line i (from 1) is indented i − 1 spaces: 2 · 63 + 3 = 129 > 128 first on line 64.
        for lineBreak in ["\n", "\r", "\r\n", "\u{2028}"] {
            let ladder = (0..<depth / 100).map { String(repeating: " ", count: $0) + "a:" + lineBreak }.joined()
            XCTAssertTrue(message(ladder).hasPrefix("g.yaml:64: indented too deeply"), message(ladder))
        }
        // Bracket-heavy but legitimate: 150 task maps in flow style (150 '{' + 1 '[').
        let tasks = (0..<150).map { "{name: t\($0), train: a.csv}" }.joined(separator: ", ")
        XCTAssertEqual((try? SweepGrid.parse("tasks: [\(tasks)]\nmethods: [ft]\nseeds: [1]\n", source: "g"))?.tasks.count, 150)
    }

    func testGridFileThatIsNotUTF8() throws {
        let directory = try TinyFixtures.temporaryDirectory("latin1-grid")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("grid.yaml")
        try Data("tasks: [caf\u{E9}]\nmethods: [ft]\nseeds: [1]\n".data(using: .isoLatin1)!).write(to: url)
        XCTAssertThrowsError(try SweepGrid.load(url)) {
            XCTAssertEqual($0.localizedDescription, "\(url.path): not UTF-8 text; save the grid file as UTF-8")
        }
    }

    /// A run id names runs/<id> and logs/<id>.log, which a sweep writes and deletes in: an id
    /// that is not a plain file name (a path step, a slash, empty) is refused with its line.
    func testManifestRunIdsMustBeFileNames() throws {
        let directory = try TinyFixtures.temporaryDirectory("manifest-ids")
        defer { try? FileManager.default.removeItem(at: directory) }
        let sweep = SweepDirectory(directory)
        let runs = try SweepGrid.parse(yaml, source: "g").expand()
        try sweep.writePlan(Array(runs.prefix(2)))
        let lines = try String(contentsOf: sweep.manifestURL, encoding: .utf8).split(separator: "\n").map(String.init)
        for id in ["../../outside", "a/b", "..", ".", "", "run id", "r\u{E9}sum\u{E9}"] {
            var record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
            record["id"] = id
            let edited = String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self)
            try (lines[0] + "\n" + edited + "\n").write(to: sweep.manifestURL, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try sweep.readManifest(), id) {
                XCTAssertTrue($0.localizedDescription.hasPrefix("\(sweep.manifestURL.path):2: run id '\(id)' is not a plain file name"), $0.localizedDescription)
            }
        }
        // Ids as `sweep plan` writes them (letters, digits, '-', '_', '.') are read.
        XCTAssertEqual(try SweepRun.parseManifest(Data((lines[0] + "\n" + lines[1] + "\n").utf8), path: "m").map(\.id), Array(runs.prefix(2)).map(\.id))
    }

    /// The array script: directives, one case per run with its arguments, the skip of complete
    /// runs, and bash accepts its syntax.
    func testSlurmScript() throws {
        let directory = try TinyFixtures.temporaryDirectory("sbatch")
        defer { try? FileManager.default.removeItem(at: directory) }
        let sweep = SweepDirectory(directory)
        let runs = Array(try SweepGrid.parse(yaml, source: "g").expand().prefix(3))
        let script = SlurmScript(ranks: 4, maxConcurrent: 2, cpusPerTask: 2, partition: "gpu", time: "1:00:00")
        let url = try script.write(runs: runs, sweep: sweep, binary: URL(fileURLWithPath: "/opt/it's/lpft-mpi"))
        let text = try String(contentsOf: url, encoding: .utf8)
        for line in ["#SBATCH --array=0-2%2", "#SBATCH --ntasks=4", "#SBATCH --cpus-per-task=2", "#SBATCH --time=1:00:00",
                     "#SBATCH --partition=gpu", "binary='/opt/it'\\''s/lpft-mpi'",
                     "  1) id='\(runs[1].id)'; args=(\(runs[1].arguments.map { "'\($0)'" }.joined(separator: " "))) ;;",
                     "if [[ -f \"$run/metrics.json\" ]]; then echo \"skip $id: complete\"; exit 0; fi"] {
            XCTAssertTrue(text.split(separator: "\n").contains(Substring(line)), "missing line: \(line)\n\(text)")
        }
        XCTAssertTrue(text.contains("mpirun -np \"$SLURM_NTASKS\" --bind-to none -x OPENBLAS_NUM_THREADS"))
        let bash = Process()
        bash.executableURL = URL(fileURLWithPath: "/bin/bash")
        bash.arguments = ["-n", url.path]
        try bash.run()
        bash.waitUntilExit()
        XCTAssertEqual(bash.terminationStatus, 0, "bash -n rejects the script")
        XCTAssertThrowsError(try SlurmScript(ranks: 2, time: "1 h").render(runs: runs, sweep: sweep, binary: url))
        XCTAssertThrowsError(try SlurmScript(ranks: 0).render(runs: runs, sweep: sweep, binary: url))
    }

    /// The grids committed in examples/grids give exactly the runs kept in docs/results/runs
    /// (same ids, so `sweep run` resumes them rather than redoing them), with the budget and the
    /// learning rates docs/results.md states, and those rates are among the selection grid's.
    func testCommittedGridsGiveTheKeptRunsWithTheStatedBudget() throws {
        let root = MPILauncher.repositoryRoot
        func runs(_ grid: String) throws -> [SweepRun] {
            try SweepGrid.load(root.appendingPathComponent("examples/grids/\(grid).yaml")).expand()
        }
        func kept(_ sweep: String) throws -> Set<String> {
            let folder = root.appendingPathComponent("docs/results/runs/\(sweep)")
            return Set(try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix(".") })
        }
        let chosen: [String: FlagValue] = ["ft": .real(5e-5), "lp-ft": .real(1e-4), "lora": .real(1e-3), "lp-lora": .real(1e-3)]
        let selection = try runs("lr-selection")
        XCTAssertEqual(selection.count, 4 * 3, "four methods × three learning rates")
        for (method, lr) in chosen {
            XCTAssertTrue(selection.contains { $0.method == method && $0.parameters["lr"] == lr }, "\(method) \(lr)")
        }
        for task in ["sentiment-ood", "sentiment5", "rt-polarity", "bbc-topic"] {
            let grid = try runs(task)
            XCTAssertEqual(grid.count, 15, task)
            XCTAssertEqual(Set(grid.map(\.method)), ["lp", "ft", "lp-ft", "lora", "lp-lora"], task)
            XCTAssertEqual(Set(grid.map(\.seed)), [1001, 2002, 3003], task)
            for run in grid where run.method != "lp" {
                XCTAssertEqual(run.parameters["lr"], chosen[run.method], run.id)
                XCTAssertEqual(run.parameters["epochs"], .integer(3), run.id)
                XCTAssertEqual(run.parameters["batch-size"], .integer(16), run.id)
            }
            XCTAssertEqual(try kept(task), Set(grid.map(\.id)), task)
        }
        for diagnosis in ["rt-polarity-lpft-lr", "rt-polarity-lpft-headscale"] {
            XCTAssertEqual(try kept(diagnosis), Set(try runs(diagnosis).map(\.id)), diagnosis)
        }
    }
}
