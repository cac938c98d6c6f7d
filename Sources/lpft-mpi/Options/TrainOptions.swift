import ArgumentParser
import Distributed
import Foundation
import Model

extension ModelSaving: ExpressibleByArgument {}
extension Switch: ExpressibleByArgument {}
extension WireType: ExpressibleByArgument {}

/// The flags of `lpft-mpi train` (and of every run of a sweep). `validate()` checks each
/// against its range before anything runs; `sweep plan` runs the same checks on every run of
/// a grid. Numbers take negative values too (`--epochs -1` is out of range, not a missing value).
struct TrainOptions: ParsableArguments {
    @OptionGroup var data: DataOptions
    @OptionGroup var model: ModelOptions
    @Option(help: "lp, ft, lp-ft, lora or lp-lora.")
    var method: TrainingMethod
    @Option(help: "Output directory (new or empty; see --resume and --overwrite).")
    var out: String
    @Option(parsing: .unconditional, help: "Epochs of the training stage (1…\(TrainingConfig.Limits.epochs); default 10).")
    var epochs: Int?
    @Option(parsing: .unconditional, help: "Train for N optimizer steps instead of --epochs (the schedule, validation and checkpoints follow it).")
    var maxSteps: Int?
    @Option(parsing: .unconditional, help: "Validate (and keep the best model) every N ≥ 1 steps instead of at each epoch end.")
    var evalEvery: Int?
    @Option(parsing: .unconditional, help: "Gradient accumulation: examples per forward/backward pass on a rank, a divisor of --batch-size ÷ ranks (default: all of them in one pass).")
    var microBatchSize: Int?
    @Option(parsing: .unconditional, help: "Also checkpoint every N ≥ 1 optimizer steps (default: at epoch ends and validations only).")
    var checkpointEvery: Int?
    @Option(parsing: .unconditional, help: "Also checkpoint when M > 0 minutes have passed since the last checkpoint.")
    var checkpointMinutes: Double?
    /// `--tensorboard` alone writes to OUT/tensorboard ("" stands for that default).
    @Option(defaultAsFlag: "", help: ArgumentHelp("Write TensorBoard event files (per step: loss, lr, grad norm, examples/s, step and allreduce seconds; per validation: accuracy, loss, head norm) to DIR (default OUT/tensorboard).", valueName: "DIR"))
    var tensorboard: String? = nil
    @Option(parsing: .unconditional, help: "Global batch size (divisible by the number of ranks; at most the training examples).")
    var batchSize = 16
    @Option(parsing: .unconditional, help: "Peak learning rate in (0, 10] (default: 5e-5 for FT and LP-FT, 5e-4 for LoRA and LP-LoRA).")
    var lr: Double?
    @Option(parsing: .unconditional, help: "Random seed (head initialisation, data order, dropout).")
    var seed: UInt64 = 1001
    @Option(parsing: .unconditional, help: "Maximum tokens per example, special tokens included (3 … the model's positions; default: 128, or the model's limit when smaller).")
    var maxLength: Int?
    @Option(parsing: .unconditional, help: "LoRA rank r (1 … the hidden size; default 8; lora and lp-lora only).")
    var loraR: Int?
    @Option(parsing: .unconditional, help: "LoRA alpha > 0 (scaling alpha / r; default 8; lora and lp-lora only).")
    var loraAlpha: Double?
    @Option(parsing: .unconditional, help: "Fraction of the steps with linear warm-up, in [0, 1].")
    var warmupRatio: Double = 0
    @Option(parsing: .unconditional, help: "AdamW weight decay in [0, 10] (not on biases and LayerNorm weights).")
    var weightDecay: Double = 0
    @Option(parsing: .unconditional, help: "Use a fixed random subset of N ≥ 2 training examples (seed 0, original order).")
    var maxTrain: Int?
    @Option(parsing: .unconditional, help: "Use a fixed random subset of N examples of each evaluation set (seed 0, original order).")
    var maxEval: Int?
    @Option(parsing: .unconditional, help: "Multiply the head by s > 0 before the training stage (head-norm experiment; default 1; not for lp, which has no training stage).")
    var headScale: Double?
    @Option(parsing: .unconditional, help: "Examples per forward pass when evaluating (1…\(TrainingConfig.Limits.evalBatchSize)).")
    var evalBatchSize = 64
    @Option(parsing: .unconditional, help: "Dropout probability in [0, 1) for hidden states, attention and the head (default: the model's, 0.1).")
    var dropout: Double?
    @Option(help: "final: write OUT/model (and OUT/adapter for LoRA) at the end; none: do not (sweeps of many runs).")
    var saveModel: ModelSaving = .final
    @Option(help: "on: sum the gradients over the ranks in buckets while backward runs (as DDP); off: after backward. Results are bit-identical.")
    var overlap: Switch = .on
    @Option(parsing: .unconditional, help: "Gradient bucket size in MiB, > 0 (DDP's default 25).")
    var bucketMb: Double = 25
    @Option(help: "Type of the gradients between ranks: f32, or bf16 (half the bytes; each sum rounded to bf16, float32 weights).")
    var allreduceDtype: WireType = .f32
    @Flag(help: "Compute the eNTK (P, F) of the model at the start of the training stage into OUT/ntk/epoch-0 (read by `lpft-mpi report`).")
    var ntkAtStart = false
    @Flag(help: "Compute the eNTK at the start of the training stage and after every epoch into OUT/ntk/epoch-K (the kernel during training).")
    var ntkEveryEpoch = false
    @Option(parsing: .unconditional, help: "Training examples of those kernels (a fixed random subset; as many test examples are the eval rows), 2…10000; default 100.")
    var ntkSubset: Int?
    @Flag(help: "Continue the run in --out from its last complete checkpoint (same settings); a complete run is left as it is.")
    var resume = false
    @Flag(help: "Remove the files of the run in --out first (other files stay).")
    var overwrite = false
    @Flag(help: "No progress output (the phase lines and the progress line).")
    var quiet = false
    /// Fault drill for the resume tests: rank 0 kills itself (SIGKILL) once epoch K's
    /// checkpoint is complete, as a node failure would.
    @Option(parsing: .unconditional, help: .hidden)
    var drillKillAfterEpoch: Int?
    /// The same once the checkpoint after global step S is complete (with --checkpoint-every).
    @Option(parsing: .unconditional, help: .hidden)
    var drillKillAfterStep: Int?

    func validate() throws {
        if resume && overwrite { throw ValidationError("give --resume (continue the run in --out) or --overwrite (replace it), not both") }
        if ntkAtStart && ntkEveryEpoch { throw ValidationError("give --ntk-at-start or --ntk-every-epoch (which includes the start), not both") }
        if ntkSubset != nil && !(ntkAtStart || ntkEveryEpoch) { throw ValidationError("--ntk-subset goes with --ntk-at-start or --ntk-every-epoch") }
        // A flag the method does not use would be recorded in config.json as if it had shaped the
        // run (and a sweep would run the same model once per value): refuse it.
        if !method.usesLoRA, loraR != nil || loraAlpha != nil {
            throw ValidationError("--lora-r and --lora-alpha set the LoRA factors of --method lora or lp-lora; this run's method \(method.rawValue) has none (drop them, or in a sweep grid put them under overrides of the LoRA methods)")
        }
        if !method.hasTrainingStage, let headScale {
            throw ValidationError("--head-scale \(headScale) scales the head before the training stage, which --method lp does not have (drop it, or in a sweep grid put it under overrides of the other methods)")
        }
        if let maxSteps, let epochs {
            throw ValidationError("--max-steps \(maxSteps) and --epochs \(epochs) both set the training length; give one of them")
        }

        try config(modelDirectory: model.directory ?? "default").validate(worldSize: nil)
    }

    /// How the output folder is claimed.
    var folderMode: RunFolder.Mode { resume ? .resume : overwrite ? .overwrite : .fresh }

    /// The run's settings from the flags; `defaultMaxLength` when --max-length is not given
    /// (the model's `EncoderConfig.defaultMaxLength`, as embed and ntk take it).
    func config(modelDirectory: String, defaultMaxLength: Int = 128) -> TrainingConfig {
        var config = TrainingConfig(
            method: method, modelDirectory: modelDirectory, outputDirectory: out, data: data.summary,
            epochs: epochs ?? 10, batchSize: batchSize, learningRate: lr, seed: seed, maxLength: maxLength ?? defaultMaxLength,
            warmupRatio: warmupRatio, weightDecay: weightDecay,
            maxTrain: maxTrain, maxEval: maxEval, evalBatchSize: evalBatchSize, dropout: dropout,
            saveModel: saveModel)
        // Unset: TrainingConfig's defaults (r 8, alpha 8, scale 1), stated once there.
        if let loraR { config.loraRank = loraR }
        if let loraAlpha { config.loraAlpha = loraAlpha }
        if let headScale { config.headScale = headScale }
        config.ntkSnapshots = ntkEveryEpoch ? .everyEpoch : ntkAtStart ? .start : nil
        config.ntkSubset = config.ntkSnapshots == nil ? nil : ntkSubset ?? 100
        config.overlap = overlap == .on
        config.bucketMegabytes = bucketMb
        config.allreduceDType = allreduceDtype == .f32 ? nil : allreduceDtype
        config.maxSteps = maxSteps
        config.evalEvery = evalEvery
        config.microBatchSize = microBatchSize
        config.checkpointEvery = checkpointEvery
        config.checkpointMinutes = checkpointMinutes
        config.tensorboard = tensorboard.map { $0.isEmpty ? URL(fileURLWithPath: out).appendingPathComponent("tensorboard").path : $0 }
        return config
    }
}
