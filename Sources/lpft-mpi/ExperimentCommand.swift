import ArgumentParser
import Distributed
import Foundation
import Model

struct Experiment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The main job: all five methods on one task, the NTK at the start of training, and the paper's report.",
        discussion: """
            By default the paper in miniature (at most 15 minutes on 2 cores):
            sentiment-ood; LP, FT, LP-FT, LoRA and LP-LoRA; one seed;
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

        static let quick = Defaults(seeds: [1001], epochs: 2, maxTrain: 400, maxEval: 200, ntkExamples: 64)
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
    @Option(parsing: .unconditional, help: "Number of seeds (1001, 2002, ...; overrides the protocol's).")
    var seeds: Int?
    @Option(parsing: .unconditional, help: "Examples of the NTK's train and eval subsets (0 skips the NTK).")
    var ntkExamples: Int?
    @Option(parsing: .unconditional, help: "Global batch size.")
    var batchSize = 16

    func validate() throws {
        try Check.integer("--ranks", ranks, in: 1...1024)
        if let seeds { try Check.integer("--seeds", seeds, in: 1...Defaults.full.seeds.count) }
        if let ntkExamples { try Check.integer("--ntk-examples", ntkExamples, in: 0...TrainingConfig.Limits.examples, hint: "0 skips the NTK") }
        try Check.nonEmpty("--out", out, expected: "a folder for the experiment")
        // Every run's train flags are checked when the grid is planned (validateTrainArguments).
    }

    /// The grid of this experiment: one task, the methods, the seeds; LP has no epochs.
    func grid() -> SweepGrid {
        let protocolDefaults = full ? Defaults.full : Defaults.quick
        var parameters: [String: [FlagValue]] = [
            "epochs": [.integer(epochs ?? protocolDefaults.epochs)],
            "batch-size": [.integer(batchSize)],
        ]
        if let n = maxTrain ?? protocolDefaults.maxTrain { parameters["max-train"] = [.integer(n)] }
        if let n = maxEval ?? protocolDefaults.maxEval { parameters["max-eval"] = [.integer(n)] }
        let seedList = Array(Defaults.full.seeds.prefix(seeds ?? protocolDefaults.seeds.count))
        return SweepGrid(name: "experiment", tasks: [.builtin(task.rawValue)],
                         methods: methods.methods,
                         seeds: seedList, parameters: parameters, overrides: [.lp: ["epochs": nil]])
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

        let ntkCount = ntkExamples ?? (full ? Defaults.full : Defaults.quick).ntkExamples
        if ntkCount > 0 {
            let ntkStart = Date()
            let note = try runNTKStep(runs: runs, sweep: sweep, examples: ntkCount, runner: runner)
            print("  NTK: \(note) (\(Trainer.duration(Date().timeIntervalSince(ntkStart))))")
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
        print("wall time \(Trainer.duration(seconds)); report: \(outURL.appendingPathComponent("report.md").path)")
    }

    /// The NTK step: for every method with a training stage, the eNTK of the model as that
    /// stage starts (the LP head for LP-FT and LP-LoRA, the initial head otherwise; LoRA
    /// parameters for the LoRA methods), on `examples` random train and test examples, written
    /// to runs/<id>/ntk/ where `lpft-mpi report` reads kernel.json; launched like the runs
    /// (`LocalSweepRunner.launch`). Returns what it did.
    func runNTKStep(runs: [SweepRun], sweep: SweepDirectory, examples: Int, runner: LocalSweepRunner) throws -> String {
        var done = 0
        for run in runs where run.method != TrainingMethod.lp.rawValue {
            let runDirectory = sweep.runDirectory(run.id)
            let ntkDirectory = runDirectory.appendingPathComponent("ntk")
            if FileManager.default.fileExists(atPath: ntkDirectory.appendingPathComponent("kernel.json").path) { done += 1; continue }
            var arguments = ["ntk", "--task", run.task, "--subset", String(examples), "--eval-split", "test",
                             "--eval-subset", String(examples), "--out", ntkDirectory.path]
            switch run.method {
            case TrainingMethod.lpFT.rawValue, TrainingMethod.lpLoRA.rawValue:
                arguments += ["--head", runDirectory.appendingPathComponent("lp_head.safetensors").path]
                // The LoRA factors of lp-lora come from the run's seed, as in training.
                if run.method == TrainingMethod.lpLoRA.rawValue { arguments += ["--parameters", "lora", "--seed", String(run.seed)] }
            default:
                arguments += ["--method", run.method, "--seed", String(run.seed)]
            }
            let log = sweep.logsURL.appendingPathComponent("\(run.id).ntk.log")
            let status = try runner.launch(arguments, log: log, title: "\(run.id) ntk")
            guard status == 0 else {
                throw ValidationError("the NTK of \(run.id) failed (exit \(status)); log: \(log.path)")
            }
            done += 1
        }
        return "\(done) kernel(s) on \(examples) examples"
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
