import ArgumentParser
import Distributed
import Foundation
import Model

extension Pooling: ExpressibleByArgument {}

/// The flags of `lpft-mpi embed`, checked against their ranges before anything runs.
struct EmbedOptions: ParsableArguments {
    @OptionGroup var model: ModelOptions
    @Option(help: "Text file (one per line) or JSONL.")
    var input: String?
    @Option(help: "Instead of --input: a built-in task whose --split to embed (labels are printed too).")
    var task: BuiltinTask?
    @Option(help: "Split of --task: train, validation, test or an OOD set's name.")
    var split = "train"
    @Option(parsing: .unconditional, help: "Embed only the first N ≥ 1 texts (the others' subsets are random: train --max-train/--max-eval, evaluate --max-eval).")
    var first: Int?
    @Option(help: "cls, mean or last (default: the family's classifier feature).")
    var pooling: Pooling?
    @Flag(help: "Scale every embedding to unit L2 norm.")
    var normalize = false
    @Option(parsing: .unconditional, help: "Maximum tokens per text, special tokens included (3 … the model's positions; default: 128, or the model's limit when smaller).")
    var maxLength: Int?
    @Option(parsing: .unconditional, help: "Texts per forward pass (1…\(TrainingConfig.Limits.evalBatchSize)).")
    var evalBatchSize = 32
    @Flag(help: "Print {\"embeddings\": [[...], ...]} instead of one row of numbers per line.")
    var json = false

    func validate() throws {
        guard (input == nil) != (task == nil) else { throw ValidationError("give --input FILE or --task TASK [--split SPLIT], not both") }
        if let input { try Check.nonEmpty("--input", input, expected: "a text or JSON Lines file") }
        if let first { try Check.integer("--first", first, in: 1...TrainingConfig.Limits.examples) }
        if let maxLength { try Check.integer("--max-length", maxLength, in: 3...TrainingConfig.Limits.maxLength) }
        try Check.integer("--eval-batch-size", evalBatchSize, in: 1...TrainingConfig.Limits.evalBatchSize)
    }
}

/// The flags of `lpft-mpi tokenize`.
struct TokenizeOptions: ParsableArguments {
    @OptionGroup var model: ModelOptions
    @Option(help: "Text file (one per line) or JSONL.")
    var input: String
    @Option(parsing: .unconditional, help: "Maximum tokens per text, special tokens included (3 … the model's positions; default: 128, or the model's limit when smaller).")
    var maxLength: Int?
    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        try Check.nonEmpty("--input", input, expected: "a text or JSON Lines file")
        if let maxLength { try Check.integer("--max-length", maxLength, in: 3...TrainingConfig.Limits.maxLength) }
    }
}
