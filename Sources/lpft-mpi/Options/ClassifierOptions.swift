import ArgumentParser
import Distributed
import Foundation
import Model

/// --model FOLDER of a trained classifier (OUT/model of train or export), and how to score.
struct ClassifierOptions: ParsableArguments {
    @Option(name: .customLong("model"), help: "Classifier folder written by train or export (OUT/model).")
    var directory: String
    @Option(parsing: .unconditional,
            help: "Texts per forward pass (1…\(TrainingConfig.Limits.evalBatchSize)); the run's --eval-batch-size (64) at the run's number of ranks reproduces its logits bit for bit.")
    var evalBatchSize = 64
    @Flag(help: "No progress line.")
    var quiet = false

    func validate() throws {
        try Check.nonEmpty("--model", directory, expected: "a classifier folder (OUT/model)")
        try Check.integer("--eval-batch-size", evalBatchSize, in: 1...TrainingConfig.Limits.evalBatchSize)
    }
}

/// The flags of `lpft-mpi predict`.
struct PredictOptions: ParsableArguments {
    @OptionGroup var classifier: ClassifierOptions
    @Option(help: "Text file (one per line) or JSONL.")
    var input: String
    @Option(help: "Output JSONL file, written by rank 0 when all is done (default: stdout).")
    var out: String?
    @Flag(help: "Probabilities without temperature scaling (T = 1).")
    var noTemperature = false

    func validate() throws {
        try Check.nonEmpty("--input", input, expected: "a text or JSON Lines file")
        if let out { try Check.nonEmpty("--out", out, expected: "a JSON Lines file to write") }
    }
}

/// The flags of `lpft-mpi evaluate`.
struct EvaluateOptions: ParsableArguments {
    @OptionGroup var classifier: ClassifierOptions
    @Option(help: "Built-in task: \(BuiltinTask.allCases.map(\.rawValue).joined(separator: ", ")).")
    var task: BuiltinTask?
    @Option(help: "Split of --task: train, validation, test or an OOD set's name.")
    var split = "test"
    @Option(help: "Labelled file (CSV, TSV, JSONL, or a --format of the paper's data sets).")
    var test: String?
    @OptionGroup var table: TableOptions
    @Option(parsing: .unconditional, help: "Evaluate a fixed random subset of N ≥ 1 examples (seed 0, file order), as train --max-eval.")
    var maxEval: Int?
    @Option(help: "JSON output file, written by rank 0.")
    var out: String?

    func validate() throws {
        guard (task == nil) != (test == nil) else { throw ValidationError("give exactly one of --task T [--split S] or --test FILE") }
        if let test { try Check.nonEmpty("--test", test, expected: "a labelled data file") }
        if task != nil, let flag = table.firstGiven { throw ValidationError("\(flag) goes with --test FILE; a built-in --task has its own format") }
        if let maxEval { try Check.integer("--max-eval", maxEval, in: 1...TrainingConfig.Limits.examples) }
        if let out { try Check.nonEmpty("--out", out, expected: "a JSON file to write") }
    }
}

/// The flags of `lpft-mpi export`.
struct ExportOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("Run directory (what train --out wrote).", valueName: "rundir"))
    var runDirectory: String
    @Option(help: "Checkpoint folder name under RUNDIR/checkpoints, e.g. epoch-2 (default: the final model).")
    var checkpoint: String?
    @Option(help: "Output directory; DIR/model and, for LoRA runs, DIR/adapter are (re)placed atomically.")
    var out: String

    func validate() throws {
        try Check.nonEmpty("RUNDIR", runDirectory, expected: "a run directory")
        try Check.nonEmpty("--out", out, expected: "an output directory")
        if let checkpoint, !(checkpoint.hasPrefix("epoch-") && Int(checkpoint.dropFirst(6)).map { $0 >= 0 } == true) {
            throw InvalidSetting("--checkpoint", value: checkpoint, expected: "a checkpoint folder name epoch-K, e.g. epoch-2",
                                 hint: "the names are in RUNDIR/checkpoints")
        }
    }
}
