import ArgumentParser
import Distributed
import Foundation
import Model

extension NTKMethod: ExpressibleByArgument {}
extension NTKParameterSet: ExpressibleByArgument {}
extension NTKPrecision: ExpressibleByArgument {}

/// How the ranks share the Gram products: chosen by the plan (auto) or forced.
enum GramSplitChoice: String, CaseIterable, ExpressibleByArgument {
    case auto, rows, slabs
    var split: NTKGramSplit? { NTKGramSplit(rawValue: rawValue) }
}

/// The flags of `lpft-mpi ntk`, checked against their ranges before anything runs (the
/// model's limits — positions, hidden size — when the model is opened).
struct NTKOptions: ParsableArguments {
    @Option(help: "Output folder.")
    var out: String
    @OptionGroup var model: ModelOptions

    @Option(help: "Built-in task (\(BuiltinTask.allCases.map(\.rawValue).joined(separator: ", "))).")
    var task: BuiltinTask?
    @Option(help: "Split of --task for the kernel's train examples: train, validation, test or an OOD set's name.")
    var split = "train"
    @Option(parsing: .unconditional, help: "At most this many random examples of --split (0 = all).")
    var subset = 250
    @Option(help: "Split of --task for eval examples (rows of the eval×train kernels); default: none.")
    var evalSplit: String?
    @Option(parsing: .unconditional, help: "At most this many random examples of --eval-split (0 = all).")
    var evalSubset = 250
    @Option(parsing: .unconditional, help: "Seed of the random subsets.")
    var subsetSeed: UInt64 = 0
    @Option(help: "JSON Lines train examples {\"text\", optional \"text_pair\", \"label\": class index} (instead of --task).")
    var examples: String?
    @Option(help: "JSON Lines eval examples (with --examples).")
    var evalExamples: String?
    @Option(parsing: .unconditional, help: "Number of classes (≥ 2) when neither the head nor the task fixes it (default: largest label + 1).")
    var classes: Int?

    @Option(help: "Head: a safetensors file with weight [C, hidden] and bias [C].")
    var head: String?
    @Option(help: "Head as training starts FT: ft, lora (initial head from --seed), lp-ft, lp-lora (the LP head).")
    var method: NTKMethod?
    @Option(parsing: .unconditional, help: "Seed of the initial head and LoRA factors (--method ft, lora; as `train --seed`).")
    var seed: UInt64 = 1001
    @Option(help: "Parameters θ of F: backbone or lora (default: from --method, else backbone).")
    var parameters: NTKParameterSet?
    @Option(parsing: .unconditional, help: "LoRA rank r (LoRA kernels; 1 … the hidden size).")
    var loraR = 8
    @Option(parsing: .unconditional, help: "LoRA alpha > 0 (LoRA kernels; default 8).")
    var loraAlpha = 8.0

    @Option(help: "Memory per rank, e.g. 4GiB, 512MiB.")
    var memoryBudget = "4GiB"
    @Option(parsing: .unconditional, help: "Estimate the word-embedding share from this fraction (0, 1] of the table, as the paper (default: exact).")
    var embeddingSample: Double?
    @Option(parsing: .unconditional, help: "Seed of the sampled table entries.")
    var embeddingSampleSeed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Tokens per example, special tokens included (default: 128, or the model's limit when smaller).")
    var maxLength: Int?
    @Option(help: "Scalar type of the Jacobian: float or double.")
    var precision: NTKPrecision = .float
    @Option(parsing: .unconditional, help: "Learning rate η > 0 of the one-step check (default: the largest predicted logit change is 0.01).")
    var stepSize: Double?
    @Option(parsing: .unconditional, help: "Parameters per chunk (default: as many as the memory budget allows).")
    var chunkParameters: Int?
    @Option(parsing: .unconditional, help: "Parameters per slab, the inner dimension of each product (default 32768).")
    var slabWidth: Int?
    @Option(help: "How ranks share the Gram products: auto (slabs for thin row blocks), rows or slabs.")
    var gramSplit: GramSplitChoice = .auto
    @Flag(help: "Print kernel.json on stdout instead of the table.")
    var json = false
    /// Fault drill for the resume tests: rank 0 kills itself (SIGKILL) once chunk K's
    /// checkpoint is complete (K counts from 0), as a node failure would.
    @Option(parsing: .unconditional, help: .hidden)
    var drillKillAfterChunk: Int?

    func validate() throws {
        try Check.nonEmpty("--out", out, expected: "a folder for the kernel files")
        guard (task == nil) != (examples == nil) else { throw ValidationError("give exactly one of --task T or --examples FILE") }
        guard (head == nil) != (method == nil) else { throw ValidationError("give exactly one of --head FILE or --method M") }
        if let head { try Check.nonEmpty("--head", head, expected: "a safetensors head file") }
        if let examples { try Check.nonEmpty("--examples", examples, expected: "a JSON Lines file") }
        if let evalExamples { try Check.nonEmpty("--eval-examples", evalExamples, expected: "a JSON Lines file") }
        if examples != nil && evalSplit != nil { throw ValidationError("--eval-split goes with --task; use --eval-examples with --examples") }
        if task != nil && evalExamples != nil { throw ValidationError("--eval-examples goes with --examples; use --eval-split with --task") }
        try Check.integer("--subset", subset, in: 0...TrainingConfig.Limits.examples, hint: "0 takes the whole split")
        try Check.integer("--eval-subset", evalSubset, in: 0...TrainingConfig.Limits.examples, hint: "0 takes the whole split")
        if let classes { try Check.integer("--classes", classes, in: 2...100_000) }
        try Check.integer("--lora-r", loraR, in: 1...TrainingConfig.Limits.loraRank)
        try Check.real("--lora-alpha", loraAlpha, in: 0...1e6, openBelow: true)
        // Whether the budget is large enough depends on the model and the examples: the plan says.
        _ = try checkedByteCount("--memory-budget", memoryBudget)
        if let f = embeddingSample { try Check.real("--embedding-sample", f, in: 0...1, openBelow: true) }
        if let maxLength { try Check.integer("--max-length", maxLength, in: 3...TrainingConfig.Limits.maxLength) }
        if let stepSize { try Check.real("--step-size", stepSize, in: 0...1e6, openBelow: true) }
        if let chunkParameters { try Check.integer("--chunk-parameters", chunkParameters, in: 1...(1 << 40)) }
        if let slabWidth { try Check.integer("--slab-width", slabWidth, in: 1...(1 << 24)) }
    }

    /// The memory budget in bytes (checked by `validate`).
    var memoryBudgetBytes: Int { parseByteCount(memoryBudget) ?? 0 }
}
