import ArgumentParser
import Distributed
import Foundation
import Model

struct Experiment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The main job: all five methods on one task, the NTK at the start of training, and the paper's report.",
        discussion: """
            By default the paper in miniature (under 12 minutes on 2 cores):
            sentiment-ood; LP, FT, LP-FT, LoRA and LP-LoRA; \(Defaults.quick.seeds.count) seeds (tables give means);
            \(Defaults.quick.maxTrain ?? 0) training and \(Defaults.quick.maxEval ?? 0) evaluation examples; \(Defaults.quick.epochs) epochs;
            the NTK on \(Defaults.quick.ntkExamples) examples; 2 ranks. --full runs the paper's protocol:
            5 seeds, 10 epochs, all data, 250-example NTK.
            Writes into --out: sweep/ (manifest, runs, logs; an interrupted
            experiment resumes), report.md with the tables and SVG plots; prints
            the summary table.
              lpft-mpi experiment
              lpft-mpi experiment --full --ranks 2 --out experiment-full
            """)

    /// Settings of the two protocols.
    struct Defaults {
        var seeds: [UInt64]
        var epochs: Int
        var maxTrain: Int?
        var maxEval: Int?
        var ntkExamples: Int

        static let quick = Defaults(seeds: [1001, 2002], epochs: 2, maxTrain: 1000, maxEval: 250, ntkExamples: 64)
        static let full = Defaults(seeds: [1001, 2002, 3003, 4004, 5005], epochs: 10, maxTrain: nil, maxEval: nil, ntkExamples: 250)
    }

    @Option(help: "Output folder.")
    var out = "experiment"
    @Flag(help: "The paper's protocol: 5 seeds, 10 epochs, all data, 250-example NTK.")
    var full = false
    @Option(parsing: .unconditional, help: "MPI ranks per run.")
    var ranks = 2
    @Option(help: "Built-in task.")
    var task: BuiltinTask = .sentimentOOD
    @Option(help: "Methods, comma-separated.")
    var methods = MethodList(TrainingMethod.allCases)
    @Option(parsing: .unconditional, help: "Epochs (overrides the protocol's).")
    var epochs: Int?
    @Option(parsing: .unconditional, help: "Training examples (overrides the protocol's).")
    var maxTrain: Int?
    @Option(parsing: .unconditional, help: "Examples per evaluation set (overrides the protocol's).")
    var maxEval: Int?
    @Option(parsing: .unconditional, help: "How many seeds, 1…\(Defaults.full.seeds.count): the first N of 1001, 2002, ... (overrides the protocol's).")
    var numSeeds: Int?
    @Option(parsing: .unconditional, help: "Training examples of the eNTK at the start of each training stage, and as many test examples (0 skips the NTK).")
    var ntkExamples: Int?
    @Option(parsing: .unconditional, help: "Global batch size.")
    var batchSize = 16

    func validate() throws {
        try Check.integer("--ranks", ranks, in: 1...65536)
        if let numSeeds { try Check.integer("--num-seeds", numSeeds, in: 1...Defaults.full.seeds.count) }
        if let ntkExamples, ntkExamples != 0 { try Check.integer("--ntk-examples", ntkExamples, in: 2...10_000, hint: "0 skips the NTK") }
        try Check.nonEmpty("--out", out, expected: "a folder for the experiment")
        // Every run's train flags are checked when the grid is planned (validateTrainArguments).
    }

    /// Learning rates per method, chosen on sentiment-ood's validation set from three values
    /// each (examples/grids/lr-selection.yaml; docs/results.md).
    static let learningRates: [TrainingMethod: Double] = [.ft: 5e-5, .lpFT: 1e-4, .lora: 1e-3, .lpLoRA: 1e-3]

    /// The grid of this experiment: one task, the methods, the seeds; each method's learning
    /// rate; the eNTK at the start of every training stage (`train --ntk-at-start`); LP has no
    /// epochs and no training stage.
    func grid() -> SweepGrid {
        let protocolDefaults = full ? Defaults.full : Defaults.quick
        var parameters: [String: [FlagValue]] = [
            "epochs": [.integer(epochs ?? protocolDefaults.epochs)],
            "batch-size": [.integer(batchSize)],
        ]
        if let n = maxTrain ?? protocolDefaults.maxTrain { parameters["max-train"] = [.integer(n)] }
        if let n = maxEval ?? protocolDefaults.maxEval { parameters["max-eval"] = [.integer(n)] }
        let kernelExamples = ntkExamples ?? protocolDefaults.ntkExamples
        if kernelExamples > 0 {
            parameters["ntk-at-start"] = [.toggle(true)]
            parameters["ntk-subset"] = [.integer(kernelExamples)]
        }
        var overrides: [TrainingMethod: [String: [FlagValue]?]] = [.lp: ["epochs": nil, "ntk-at-start": nil, "ntk-subset": nil]]
        for (method, rate) in Self.learningRates { overrides[method] = ["lr": [.number(rate)]] }
        let seedList = Array(Defaults.full.seeds.prefix(numSeeds ?? protocolDefaults.seeds.count))
        return SweepGrid(name: "experiment", tasks: [.builtin(task.rawValue)], methods: methods.methods,
                         seeds: seedList, parameters: parameters, overrides: overrides)
    }

    func run() throws {
        let start = Date()
        let outURL = URL(fileURLWithPath: out)
        let sweep = SweepDirectory(outURL.appendingPathComponent("sweep"))
        let grid = grid()
        let runs = try grid.expand()
        try validateTrainArguments(runs, grid: grid)
        try sweep.writePlan(runs)
        let programs = SweepPrograms.current()
        let runner = LocalSweepRunner(sweep: sweep, programs: programs, ranks: ranks, parallel: 1,
                                      oversubscribe: ranks > ProcessInfo.processInfo.activeProcessorCount)
        print("experiment: \(runs.count) run(s) on \(ranks) rank(s) each; logs in \(sweep.logsURL.path)")
        fflush(stdout)
        let summary = try runner.run(runs) { line in print("  " + line); fflush(stdout) }
        if !summary.failed.isEmpty {
            print(sweep.statusSummary(runs))
            throw ExitCode(1)
        }

        let (results, missing) = try RunResult.collect([sweep.url])
        let report = SweepReport(runs: results, missing: missing)
        let seconds = Date().timeIntervalSince(start)
        let table = report.miniatureTable()
        let preface = "Wall time \(Trainer.duration(seconds)) on \(ranks) rank(s); "
            + "\(full ? "the paper's protocol (--full)" : "the paper in miniature (lpft-mpi experiment)").\n\n" + table.markdown()
        try report.write(to: outURL, title: "lpft-mpi experiment: \(task.rawValue)", preface: preface)
        print("")
        print(table.markdown())
        print("The paper's findings in this run (means over seeds):")
        for line in report.findings() { print("  " + line) }
        print("wall time \(Trainer.duration(seconds)); report: \(outURL.appendingPathComponent("report.md").path)")
    }
}

/// A comma-separated list of training methods (`--methods lp,ft`).
struct MethodList: ExpressibleByArgument {
    var methods: [TrainingMethod]

    init(_ methods: [TrainingMethod]) { self.methods = methods }

    init?(argument: String) {
        let parsed = argument.split(separator: ",", omittingEmptySubsequences: false).map { TrainingMethod(rawValue: String($0)) }
        guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else { return nil }
        methods = parsed.compactMap { $0 }
    }

    var defaultValueDescription: String { methods.map(\.rawValue).joined(separator: ",") }
    static var allValueStrings: [String] { TrainingMethod.allCases.map(\.rawValue) }
}
