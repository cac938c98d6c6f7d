import Foundation
import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Distributed
@testable import Model

/// Reports from hand-written run folders: every number below is computed by hand from the
/// fixture values (sample standard deviation, divisor n − 1).
final class ReportTests: XCTestCase {
    var work: URL!

    override func setUpWithError() throws {
        work = try TinyFixtures.temporaryDirectory("report")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: work)
    }

    struct Fixture {
        var method: String
        var seed: UInt64
        var headScale = 1.0
        var test: Double
        var ood: Double
        var ece: Double
        var eceTS: Double
        var headInit = 0.5
        var afterLP: Double?
        var start: Double?
        var final: Double
        var perEpoch: [Double]
        var diff: Double
        /// (bin, count, accuracy, confidence) of the test set's reliability diagram at T = 1.
        var reliability: (bin: Int, count: Int, accuracy: Double, confidence: Double)?
        var kernel: [String: Any]?
    }

    /// Writes config.json, metrics.json (in the documented layout, by hand), history.jsonl and
    /// ntk/kernel.json for one fixture run.
    func writeRun(_ f: Fixture, name: String) throws -> URL {
        let directory = work.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var config = TrainingConfig(method: TrainingMethod(rawValue: f.method)!, modelDirectory: "/models/tiny",
                                    outputDirectory: directory.path, data: "task tiny-task", epochs: 2, seed: f.seed,
                                    headScale: f.headScale)
        config.worldSize = 2
        try JSONEncoder().encode(config).write(to: directory.appendingPathComponent("config.json"))
        func set(_ accuracy: Double, ece: Double, eceTS: Double, reliability: Bool) -> [String: Any] {
            var s: [String: Any] = ["accuracy": accuracy, "f1": accuracy, "mcc": 0.5, "ece": ece, "mce": 2 * ece, "brier": 0.3,
                                    "nll": 0.6, "ece_ts": eceTS, "mce_ts": 2 * eceTS, "brier_ts": 0.25, "nll_ts": 0.5,
                                    "temperature": 1.5, "mean_logit_norm": 3, "examples": 10]
            if reliability, let r = f.reliability {
                var counts = [Int](repeating: 0, count: 15), accuracy = [Double](repeating: 0, count: 15)
                var confidence = accuracy
                counts[r.bin] = r.count; accuracy[r.bin] = r.accuracy; confidence[r.bin] = r.confidence
                let diagram: [String: Any] = ["temperature": 1, "counts": counts, "accuracy": accuracy, "confidence": confidence]
                s["reliability"] = ["before": diagram, "after": diagram]
            }
            return s
        }
        var headNorm: [String: Any] = ["init": f.headInit, "final": f.final, "per_epoch": f.perEpoch]
        if let afterLP = f.afterLP { headNorm["after_lp"] = afterLP }
        if let start = f.start { headNorm["start_of_training"] = start }
        let metrics: [String: Any] = [
            "method": f.method, "data": "task tiny-task", "world_size": 2, "classes": ["neg", "pos"],
            "eval": ["validation": set(0.5, ece: 0.9, eceTS: 0.9, reliability: false),
                     "test": set(f.test, ece: f.ece, eceTS: f.eceTS, reliability: true),
                     "shift": set(f.ood, ece: 0.1, eceTS: 0.1, reliability: false)],
            "head_norm": headNorm,
            "features": ["diff": f.diff, "cs": 0.4, "fdr": 2.0, "cs_before": 0.5, "fdr_before": 1.0],
            "best_epoch": 2,
            "timing": ["total_seconds": 10, "phases": ["train": 8], "train_examples_per_s": 50, "eval_examples_per_s": 100],
        ]
        try JSONSerialization.data(withJSONObject: metrics).write(to: directory.appendingPathComponent("metrics.json"))
        let history = f.perEpoch.enumerated().map { e, norm in
            "{\"epoch\":\(e + 1),\"train_loss\":0.5,\"validation_accuracy\":0.8,\"validation_loss\":0.4,\"head_norm\":\(norm),"
                + "\"learning_rate\":1e-5,\"seconds\":4,\"eval_seconds\":1,\"examples_per_s\":50}"
        }
        try (history.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("history.jsonl"), atomically: true, encoding: .utf8)
        if let kernel = f.kernel {
            let ntk = directory.appendingPathComponent("ntk")
            try FileManager.default.createDirectory(at: ntk, withIntermediateDirectories: true)
            try JSONSerialization.data(withJSONObject: kernel).write(to: ntk.appendingPathComponent("kernel.json"))
        }
        return directory
    }

    /// kernel.json as the ntk command writes it.
    let commandKernel: [String: Any] = [
        "train": ["ids": ["a", "b", "c", "d"], "labels": [0, 1, 0, 1]],
        "head": ["weight_norm": 5.0],
        "analysis": [
            "ft_ratio": 0.99,
            "pte": ["frobenius_train": 10.0, "spectrum": ["rank": 5, "top_eigenvalues": [100.0, 10.0, 1.0]]],
            "fte": ["frobenius_train": 20.0, "spectrum": ["rank": 8, "top_eigenvalues": [200.0, 20.0, 2.0]]],
            "ntk": ["frobenius_train": 25.0, "spectrum": ["rank": 8, "top_eigenvalues": [300.0, 30.0, 3.0]],
                    "kernel_regression": ["train": 1.0, "eval": 0.75]],
        ],
    ]

    /// The documented flat subset.
    let subsetKernel: [String: Any] = [
        "analysis": [
            "rank": 6, "frobenius": ["pte": 1.0, "fte": 2.0, "ntk": 3.0],
            "top_eigenvalues": ["pte": [4.0, 0.5], "fte": [8.0, 0.25], "ntk": [12.0, 0.75]],
            "ft_ratio": 0.2, "kernel_accuracy": ["train": 0.9, "eval": 0.8],
        ],
    ]

    func writeFixtures() throws -> [URL] {
        let fixtures = [
            Fixture(method: "ft", seed: 1, test: 0.80, ood: 0.70, ece: 0.10, eceTS: 0.05, final: 0.6, perEpoch: [0.55, 0.6], diff: 3,
                    reliability: (13, 2, 0.5, 0.9), kernel: subsetKernel),
            Fixture(method: "ft", seed: 2, test: 0.84, ood: 0.70, ece: 0.20, eceTS: 0.05, final: 0.6, perEpoch: [0.55, 0.6], diff: 4,
                    reliability: (13, 2, 1.0, 0.9)),
            Fixture(method: "ft", seed: 3, test: 0.88, ood: 0.70, ece: 0.30, eceTS: 0.05, final: 0.9, perEpoch: [0.65, 0.9], diff: 5),
            Fixture(method: "lp-ft", seed: 1, test: 0.90, ood: 0.60, ece: 0.2, eceTS: 0.1, afterLP: 5, start: 5, final: 6,
                    perEpoch: [5.5, 6], diff: 0.5, kernel: commandKernel),
            Fixture(method: "lp-ft", seed: 2, test: 0.92, ood: 0.64, ece: 0.2, eceTS: 0.1, afterLP: 7, start: 7, final: 8,
                    perEpoch: [7.5, 8], diff: 0.7),
            Fixture(method: "lp-ft", seed: 1, headScale: 10, test: 0.5, ood: 0.5, ece: 0.4, eceTS: 0.2, afterLP: 7, start: 70,
                    final: 70, perEpoch: [70, 70], diff: 0.1),
        ]
        return try fixtures.enumerated().map { try writeRun($1, name: "run\($0)") }
    }

    func testTablesAreMeansAndSampleDeviationsByHand() throws {
        let dirs = try writeFixtures()
        let (runs, missing) = try RunResult.collect([work])
        XCTAssertEqual(runs.count, dirs.count)
        XCTAssertTrue(missing.isEmpty)
        let report = SweepReport(runs: runs)
        XCTAssertEqual(report.groups.map(\.label), ["ft", "lp-ft (head-scale=1)", "lp-ft (head-scale=10)"])

        let accuracy = report.accuracyTable().markdown()
        // ft: test 80, 84, 88 → mean 84, s = √((16 + 0 + 16)/2) = 4; OOD 70 ×3 → 70 ± 0.
        XCTAssertTrue(accuracy.contains("| tiny-task | ft | - | 3 | 84.00 ± 4.00 | 70.00 ± 0.00 |"), accuracy)
        // lp-ft: 90, 92 → 91 ± √2 = 1.41; OOD 60, 64 → 62 ± 2.83 (√8).
        XCTAssertTrue(accuracy.contains("| tiny-task | lp-ft | head-scale=1 | 2 | 91.00 ± 1.41 | 62.00 ± 2.83 |"), accuracy)
        XCTAssertTrue(accuracy.contains("| tiny-task | lp-ft | head-scale=10 | 1 | 50.00 | 50.00 |"), accuracy)
        XCTAssertTrue(accuracy.hasPrefix("| task | method | variant | n | ID test | OOD shift |"), accuracy)

        let calibration = report.calibrationTable().markdown()
        // ft ECE 10, 20, 30 → 20 ± 10; after TS 5 ×3; MCE doubles both.
        XCTAssertTrue(calibration.contains("| tiny-task | ft | - | 3 | test | 20.00 ± 10.00 → 5.00 ± 0.00 | 40.00 ± 20.00 → 10.00 ± 0.00 |"), calibration)

        let norms = report.headNormTable().markdown()
        // ft final 0.6, 0.6, 0.9 → 0.7 ± √(0.06/2) = 0.173; growth 1.2, 1.2, 1.8 → 1.4 ± 0.3464.
        // (after LP and start of training do not apply to ft.)
        XCTAssertTrue(norms.contains("| tiny-task | ft | - | 3 | 0.500 ± 0.000 | – | – | 0.700 ± 0.173 | 1.4 ± 0.3 |"), norms)
        XCTAssertTrue(norms.contains("| tiny-task | lp-ft | head-scale=1 | 2 | 0.500 ± 0.000 | 6.000 ± 1.414 | 6.000 ± 1.414 | 7.000 ± 1.414 |"), norms)

        let features = report.featureTable().markdown()
        // Diff ft 3, 4, 5 → 4 ± 1; lp-ft 0.5, 0.7 → 0.6 ± 0.141.
        XCTAssertTrue(features.contains("| tiny-task | ft | - | 3 | 4.000 ± 1.000 | 0.500 ± 0.000 → 0.400 ± 0.000 | 1.000 ± 0.000 → 2.000 ± 0.000 |"), features)
        XCTAssertTrue(features.contains("| tiny-task | lp-ft | head-scale=1 | 2 | 0.600 ± 0.141 |"), features)

        let kernel = try XCTUnwrap(report.kernelTable()).markdown()
        // One kernel per group: the flat subset for ft, the ntk command's layout for lp-ft.
        XCTAssertTrue(kernel.contains("| tiny-task | ft | - | 1 | – | – | – | 6.0 | 1.0000 | 2.0000 | 3.0000 | 0.2000 | 90.0 | 80.0 |"), kernel)
        XCTAssertTrue(kernel.contains("| tiny-task | lp-ft | head-scale=1 | 1 | 4 | 5.0 | 8.0 | 8.0 | 10.0000 | 20.0000 | 25.0000 | 0.9900 | 100.0 | 75.0 |"), kernel)

        // CSV: full-precision means and sample deviations.
        let csv = report.accuracyTable().csv().split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(csv[0], ["task", "method", "variant", "seeds", "accuracy_test_mean", "accuracy_test_std", "accuracy_shift_mean", "accuracy_shift_std"])
        let ft = try XCTUnwrap(csv.first { $0[1] == "ft" })
        XCTAssertEqual(Double(ft[4])!, 84, accuracy: 1e-9)
        XCTAssertEqual(Double(ft[5])!, 4, accuracy: 1e-9)
        let scaled = try XCTUnwrap(csv.first { $0[2] == "head-scale=10" })
        XCTAssertEqual(scaled[5], "", "one seed has no standard deviation")
    }

    /// The findings lines decide each finding from the means computed by hand, and say
    /// "not measured" where the runs are missing (no LoRA runs here).
    func testFindingsFollowTheMeansByHand() throws {
        _ = try writeFixtures()
        let report = SweepReport(runs: try RunResult.collect([work]).runs)
        XCTAssertEqual(report.findings(), [
            // lp-ft (head-scale=1): init 0.5, after LP (5 + 7)/2 = 6 → 12×.
            "tiny-task: LP grows the head norm many times (≥ 3×): holds (lp-ft: 0.50 → 6.00, 12.0×)",
            // Diff(F) lp-ft (0.5 + 0.7)/2 = 0.6 vs ft (3 + 4 + 5)/3 = 4.
            "tiny-task: lp-ft changes the features less than ft: holds (Diff(F) 0.60 vs 4.00)",
            "tiny-task: lp-lora changes the features less than lora: not measured",
            "tiny-task: the FT ratio of the kernel is larger after LP (lp-ft) than for ft: holds (FT ratio 0.99 vs 0.20)",
            "tiny-task: temperature scaling lowers lp-ft's test ECE: holds (20.0% → 10.0%)",
            // OOD: lp-ft (60 + 64)/2 = 62 vs ft 70.
            "tiny-task: lp-ft ≥ ft out of distribution: does NOT hold (mean OOD accuracy over shift: 62.0% vs 70.0%)",
        ])
    }

    /// The SVG files parse as XML and carry the expected series and values.
    func testPlotsAreWellFormedAndCarryTheSeries() throws {
        _ = try writeFixtures()
        let (runs, _) = try RunResult.collect([work])
        let out = work.appendingPathComponent("out")
        let files = try SweepReport(runs: runs).write(to: out)
        let names = Set(files.map(\.lastPathComponent))
        for expected in ["report.md", "accuracy.csv", "calibration.csv", "head_norm.csv", "features.csv", "ntk.csv", "time.csv",
                         "head_norm-tiny-task.svg", "feature_change.svg", "reliability-tiny-task-ft.svg", "ntk_spectrum.svg"] {
            XCTAssertTrue(names.contains(expected), "\(expected) not written: \(names.sorted())")
        }
        // lp-ft runs have no reliability diagrams in the fixtures.
        XCTAssertFalse(names.contains { $0.hasPrefix("reliability-tiny-task-lp-ft") })

        // Head norm: epoch 0 = start of training (init for ft), then the mean per epoch.
        let headNorm = try svgPoints(out.appendingPathComponent("head_norm-tiny-task.svg"))
        XCTAssertEqual(Set(headNorm.keys), ["ft", "lp-ft (head-scale=1)", "lp-ft (head-scale=10)"])
        assertPoints(headNorm["ft"], [(0, 0.5), (1, (0.55 + 0.55 + 0.65) / 3), (2, 0.7)])
        assertPoints(headNorm["lp-ft (head-scale=1)"], [(0, 6), (1, 6.5), (2, 7)])

        // Feature change: one point per run (head norm at the start of training, Diff(F)).
        let scatter = try svgPoints(out.appendingPathComponent("feature_change.svg"))
        assertPoints(scatter["ft"], [(0.5, 3), (0.5, 4), (0.5, 5)])
        assertPoints(scatter["lp-ft"], [(5, 0.5), (7, 0.7), (70, 0.1)])

        // Reliability: bins pooled over seeds; bin 13 holds 2 + 2 examples, accuracy (1 + 2)/4.
        let reliability = try svgPoints(out.appendingPathComponent("reliability-tiny-task-ft.svg"))
        assertPoints(reliability["accuracy"], [(13.5 / 15, 0.75), (13.5 / 15, 0.75)])  // before and after panels
        assertPoints(reliability["mean confidence"], [(13.5 / 15, 0.9), (13.5 / 15, 0.9)])

        // Spectra: the eigenvalues of each kernel per group (three panels).
        let spectrum = try svgPoints(out.appendingPathComponent("ntk_spectrum.svg"))
        assertPoints(spectrum["ft"], [(1, 4), (2, 0.5), (1, 8), (2, 0.25), (1, 12), (2, 0.75)])
        assertPoints(spectrum["lp-ft (head-scale=1)"], [(1, 100), (2, 10), (3, 1), (1, 200), (2, 20), (3, 2), (1, 300), (2, 30), (3, 3)])

        let markdown = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(markdown.contains("![feature_change](feature_change.svg)"))
        XCTAssertTrue(markdown.contains("## Accuracy (%)"))
    }

    func testMissingAndCorruptRunsAreNamed() throws {
        let dirs = try writeFixtures()
        try "{".write(to: dirs[0].appendingPathComponent("metrics.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RunResult.load(dirs[0])) { XCTAssertTrue($0.localizedDescription.contains("run0/metrics.json")) }
        let empty = work.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try RunResult.collect([empty])) { XCTAssertTrue($0.localizedDescription.contains("no manifest.jsonl")) }
        XCTAssertThrowsError(try SweepReport(runs: []).write(to: empty))
        try "[]".write(to: dirs[3].appendingPathComponent("ntk/kernel.json"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RunResult.load(dirs[3])) { XCTAssertTrue($0.localizedDescription.contains("ntk/kernel.json")) }
    }

    func testStatisticIsSampleDeviation() {
        let s = Statistic([2, 4, 4, 4, 5, 5, 7, 9])
        // Mean 5; squared deviations sum to 32; sample variance 32/7.
        XCTAssertEqual(s.mean, 5)
        XCTAssertEqual(s.std!, (32.0 / 7).squareRoot(), accuracy: 1e-15)
        XCTAssertNil(Statistic([3]).std)
        XCTAssertEqual(Statistic([3]).text(digits: 1), "3.0")
    }

    // MARK: SVG reading

    /// Data points by series name, in document order, from an SVG parsed by XMLParser.
    func svgPoints(_ url: URL) throws -> [String: [(x: Double, y: Double)]] {
        final class Collector: NSObject, XMLParserDelegate {
            var points: [String: [(x: Double, y: Double)]] = [:]
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                        attributes: [String: String] = [:]) {
                guard let series = attributes["data-series"], let x = attributes["data-x"].flatMap(Double.init),
                      let y = attributes["data-y"].flatMap(Double.init) else { return }
                points[series, default: []].append((x, y))
            }
        }
        let parser = try XCTUnwrap(XMLParser(contentsOf: url))
        let collector = Collector()
        parser.delegate = collector
        XCTAssertTrue(parser.parse(), "\(url.lastPathComponent) is not well-formed XML: \(String(describing: parser.parserError))")
        return collector.points
    }

    func assertPoints(_ actual: [(x: Double, y: Double)]?, _ expected: [(Double, Double)], file: StaticString = #filePath, line: UInt = #line) {
        guard let actual else { return XCTFail("series missing", file: file, line: line) }
        XCTAssertEqual(actual.count, expected.count, "\(actual)", file: file, line: line)
        for (a, e) in zip(actual, expected) {
            XCTAssertEqual(a.x, e.0, accuracy: 1e-9, file: file, line: line)
            XCTAssertEqual(a.y, e.1, accuracy: 1e-9, file: file, line: line)
        }
    }
}
