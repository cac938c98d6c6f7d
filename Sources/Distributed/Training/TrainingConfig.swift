import Foundation
import Model

/// Everything that determines a training run; written (resolved) to config.json.
public struct TrainingConfig: Codable, Sendable {
    public var method: TrainingMethod
    public var modelDirectory: String
    public var outputDirectory: String
    /// How the data were chosen (built-in task name or the files), for the record.
    public var data: String
    public var epochs: Int
    /// Global batch size (split evenly over ranks).
    public var batchSize: Int
    public var learningRate: Double
    public var seed: UInt64
    public var maxLength: Int
    public var loraRank: Int
    public var loraAlpha: Double
    public var warmupRatio: Double
    public var weightDecay: Double
    public var maxGradNorm: Double
    /// Use a fixed random subset of N training examples (seed 0, file order kept).
    public var maxTrain: Int?
    /// Use a fixed random subset of N examples of every evaluation set (validation, test, OOD).
    public var maxEval: Int?
    /// Multiplies the LP head (weight and bias) before the training stage.
    public var headScale: Double
    public var evalBatchSize: Int
    /// Overrides the model's hidden and attention dropout (nil: the config's, 0.1 for BERT).
    public var dropout: Double?
    /// Whether the run writes OUT/model (and OUT/adapter) at the end; nil (configurations
    /// written before the flag existed) means final.
    public var saveModel: ModelSaving?
    /// When the run computes the eNTK of the model it trains (nil: never) and on how many
    /// training examples (as many test examples join as eval rows).
    public var ntkSnapshots: KernelSnapshots?
    public var ntkSubset: Int?
    /// How the gradients are averaged over the ranks (nil: the defaults, overlap on with
    /// 25 MiB buckets). Neither changes a result: the same sums, started earlier or later.
    public var overlap: Bool?
    public var bucketMegabytes: Double?
    /// The type gradients travel in between the ranks (nil: f32). bf16 halves the bytes and
    /// rounds each sum to bf16, so it changes results (unlike the two above).
    public var allreduceDType: WireType?
    /// Training length in optimizer steps instead of `epochs` (nil: epochs decide).
    public var maxSteps: Int?
    /// Validate (and keep the best model) every N steps instead of at each epoch end.
    public var evalEvery: Int?
    /// Examples per forward/backward pass on a rank (nil: the rank's whole share of the global
    /// batch). Gradients of the passes add up locally; the ranks average once per step.
    public var microBatchSize: Int?
    /// Mid-epoch checkpoints: every N steps and/or every M minutes (nil: at epoch ends only).
    public var checkpointEvery: Int?
    public var checkpointMinutes: Double?
    /// Folder of TensorBoard event files (nil: none).
    public var tensorboard: String?
    /// Filled in at run time.
    public var worldSize: Int = 1
    public var gitCommit: String = "unknown"
    public var classNames: [String] = []

    public init(method: TrainingMethod, modelDirectory: String, outputDirectory: String, data: String,
                epochs: Int = 10, batchSize: Int = 16, learningRate: Double? = nil, seed: UInt64 = 1001,
                maxLength: Int = 128, loraRank: Int = 8, loraAlpha: Double = 8, warmupRatio: Double = 0,
                weightDecay: Double = 0, maxGradNorm: Double = 1, maxTrain: Int? = nil, maxEval: Int? = nil,
                headScale: Double = 1, evalBatchSize: Int = 64, dropout: Double? = nil, saveModel: ModelSaving = .final) {
        self.method = method
        self.modelDirectory = modelDirectory
        self.outputDirectory = outputDirectory
        self.data = data
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate ?? Self.defaultLearningRate(method)
        self.seed = seed
        self.maxLength = maxLength
        self.loraRank = loraRank
        self.loraAlpha = loraAlpha
        self.warmupRatio = warmupRatio
        self.weightDecay = weightDecay
        self.maxGradNorm = maxGradNorm
        self.maxTrain = maxTrain
        self.maxEval = maxEval
        self.headScale = headScale
        self.evalBatchSize = evalBatchSize
        self.dropout = dropout
        self.saveModel = saveModel
    }

    /// Learning rates that work for MiniLM-size models: full fine-tuning small, LoRA larger
    /// (the paper tunes per method; these are the defaults when --lr is not given).
    public static func defaultLearningRate(_ method: TrainingMethod) -> Double {
        switch method {
        case .lp: return 0
        case .ft, .lpFT: return 5e-5
        case .lora, .lpLoRA: return 5e-4
        }
    }

    public var loraConfig: LoRAConfig? {
        method.usesLoRA ? LoRAConfig(rank: loraRank, alpha: loraAlpha, targets: [.query, .value]) : nil
    }

    /// Largest values a setting may take: far above any real run, low enough that every count
    /// derived from them (steps, buffer sizes) stays far from overflow.
    public enum Limits {
        public static let epochs = 100_000
        public static let batchSize = 1 << 20
        public static let evalBatchSize = 1 << 16
        public static let maxLength = 1 << 16
        public static let examples = 1 << 30
        public static let loraRank = 1 << 16
        /// Optimizer steps of one run (epochs × steps per epoch).
        public static let totalSteps = 1 << 31
    }

    /// Checks every setting that does not depend on the data or the model (the model's limits —
    /// positions, hidden size — are checked by `ModelDirectory` when it opens the model);
    /// `worldSize` is the number of ranks, nil when not known yet (planning a sweep).
    public func validate(worldSize: Int?) throws {
        try Check.nonEmpty("--out", outputDirectory, expected: "a folder for the run's files")
        try Check.integer("--epochs", epochs, in: (method.hasTrainingStage ? 1 : 0)...Limits.epochs)
        try Check.integer("--batch-size", batchSize, in: 1...Limits.batchSize)
        if let worldSize, batchSize % worldSize != 0 {
            throw TrainingError.invalidSetting("global --batch-size \(batchSize) is not divisible by the \(worldSize) ranks; choose a multiple of \(worldSize)")
        }
        try Check.integer("--max-length", maxLength, in: 3...Limits.maxLength, hint: "3 tokens are the special tokens of a pair")
        if method.hasTrainingStage {
            try Check.real("--lr", learningRate, in: 0...10, openBelow: true)
        }
        try Check.integer("--lora-r", loraRank, in: 1...Limits.loraRank)
        try Check.real("--lora-alpha", loraAlpha, in: 0...1e6, openBelow: true)
        try Check.real("--warmup-ratio", warmupRatio, in: 0...1)
        try Check.real("--weight-decay", weightDecay, in: 0...10)
        try Check.real("max gradient norm", maxGradNorm, in: 0...1e9, openBelow: true)
        try Check.real("--head-scale", headScale, in: 0...1e6, openBelow: true)
        if let maxTrain { try Check.integer("--max-train", maxTrain, in: 2...Limits.examples) }
        if let maxEval { try Check.integer("--max-eval", maxEval, in: 1...Limits.examples) }
        try Check.integer("--eval-batch-size", evalBatchSize, in: 1...Limits.evalBatchSize)
        if let dropout { try Check.real("--dropout", dropout, in: 0...1, openAbove: true) }
        if let bucketMegabytes { try Check.real("--bucket-mb", bucketMegabytes, in: 0...1_048_576, openBelow: true) }
        if let maxSteps { try Check.integer("--max-steps", maxSteps, in: 1...Limits.totalSteps) }
        if let evalEvery { try Check.integer("--eval-every", evalEvery, in: 1...Limits.totalSteps) }
        if let checkpointEvery { try Check.integer("--checkpoint-every", checkpointEvery, in: 1...Limits.totalSteps) }
        if let checkpointMinutes { try Check.real("--checkpoint-minutes", checkpointMinutes, in: 0...1e6, openBelow: true) }
        if let tensorboard { try Check.nonEmpty("--tensorboard", tensorboard, expected: "a folder for the event files") }
        if let microBatchSize {
            try Check.integer("--micro-batch-size", microBatchSize, in: 1...Limits.batchSize)
            if let worldSize, batchSize % worldSize == 0, (batchSize / worldSize) % microBatchSize != 0 {
                throw InvalidSetting("--micro-batch-size", value: String(microBatchSize),
                                     expected: "a divisor of the \(batchSize / worldSize) examples per rank (--batch-size \(batchSize) ÷ \(worldSize) ranks)",
                                     hint: "choose one of \(Self.divisors(batchSize / worldSize).map(String.init).joined(separator: ", "))")
            }
        }
        if let ntkSnapshots {
            guard method.hasTrainingStage else {
                throw InvalidSetting("--ntk-\(ntkSnapshots == .start ? "at-start" : "every-epoch")", value: "with --method lp",
                                     expected: "a method with a training stage (ft, lp-ft, lora, lp-lora)")
            }
            try Check.integer("--ntk-subset", ntkSubset ?? 0, in: 2...10_000)
        }
    }

    /// Checks what depends on the training data and returns the optimizer steps per epoch and in
    /// all: every rank must get examples, and the global batch must fit the training split.
    public func stepCounts(trainExamples: Int, worldSize: Int) throws -> (perEpoch: Int, total: Int) {
        guard trainExamples >= worldSize else {
            throw InvalidSetting("ranks", value: String(worldSize), expected: "at most the \(trainExamples) training examples",
                                 hint: "run on fewer ranks or with more training data")
        }
        if method.hasTrainingStage {
            try Check.integer("--batch-size", batchSize, in: 1...trainExamples,
                              hint: "the training split has \(trainExamples) examples; choose a batch of at most that many")
        }
        // Global batches do not depend on the ranks (GlobalBatches): ⌈N / B⌉ steps per epoch.
        let perEpoch = (trainExamples + batchSize - 1) / batchSize
        guard method.hasTrainingStage else { return (perEpoch, 0) }
        if let maxSteps { return (perEpoch, maxSteps) }
        let total = try Check.product([perEpoch, epochs], limit: Limits.totalSteps,
                                      what: "steps per epoch × --epochs", hint: "lower --epochs or raise --batch-size")
        return (perEpoch, total)
    }

    static func divisors(_ n: Int) -> [Int] { (1...max(n, 1)).filter { n % $0 == 0 } }
}

/// What `train` keeps of the final model besides metrics and logits: `final` writes OUT/model
/// (and OUT/adapter for LoRA), `none` nothing (sweeps of many runs).
public enum ModelSaving: String, Codable, CaseIterable, Sendable {
    case final, none
}

/// `--allreduce-dtype`: the type gradients travel in between the ranks.
public enum WireType: String, Codable, CaseIterable, Sendable {
    case f32, bf16
}

/// `--overlap on|off`: whether gradient buckets are summed during backward or after it.
public enum Switch: String, Codable, CaseIterable, Sendable {
    case on, off
}

/// Errors of a training run.
public enum TrainingError: Error, LocalizedError, Equatable {
    case invalidSetting(String)
    case divergedReplicas(epoch: Int, detail: String)
    case badCheckpoint(String)
    case nonFiniteLoss(epoch: Int, step: Int)
    case outputFolder(String)

    public var errorDescription: String? {
        switch self {
        case let .invalidSetting(message): return message
        case let .divergedReplicas(epoch, detail):
            return "parameters differ between ranks after epoch \(epoch) (\(detail)); the replicas diverged — check that every rank runs the same binary and data"
        case let .badCheckpoint(message): return message
        case let .nonFiniteLoss(epoch, step):
            return "the training loss became NaN or infinite at epoch \(epoch + 1), step \(step + 1); lower --lr"
        case let .outputFolder(message): return message
        }
    }
}
