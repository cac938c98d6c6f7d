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
    /// Use a fixed random subset of N training examples (seed 0, kept in their original
    /// order; the same subset for every --seed).
    public var maxTrain: Int?
    /// Use a fixed random subset of N examples of every evaluation set (validation, test, OOD).
    public var maxEval: Int?
    /// Multiplies the LP head (weight and bias) before the training stage.
    public var headScale: Double
    public var evalBatchSize: Int
    /// Overrides the model's hidden and attention dropout (nil: the config's, 0.1 for BERT).
    public var dropout: Double?
    /// Filled in at run time.
    public var worldSize: Int = 1
    public var gitCommit: String = "unknown"
    public var classNames: [String] = []

    public init(method: TrainingMethod, modelDirectory: String, outputDirectory: String, data: String,
                epochs: Int = 10, batchSize: Int = 16, learningRate: Double? = nil, seed: UInt64 = 1001,
                maxLength: Int = 128, loraRank: Int = 8, loraAlpha: Double = 8, warmupRatio: Double = 0,
                weightDecay: Double = 0, maxGradNorm: Double = 1, maxTrain: Int? = nil, maxEval: Int? = nil,
                headScale: Double = 1, evalBatchSize: Int = 64, dropout: Double? = nil) {
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

    /// Checks settings that do not depend on the data; `worldSize` is the number of ranks.
    public func validate(worldSize: Int) throws {
        func fail(_ message: String) -> TrainingError { .invalidSetting(message) }
        if epochs < 1 && method.hasTrainingStage { throw fail("--epochs must be at least 1 (got \(epochs))") }
        if batchSize < 1 { throw fail("--batch-size must be at least 1 (got \(batchSize))") }
        if batchSize % worldSize != 0 {
            throw fail("global --batch-size \(batchSize) is not divisible by the \(worldSize) ranks; choose a multiple of \(worldSize)")
        }
        if maxLength < 3 { throw fail("--max-length must be at least 3 (special tokens of a pair), got \(maxLength)") }
        if method.hasTrainingStage && !(learningRate > 0) { throw fail("--lr must be positive (got \(learningRate))") }
        if loraRank < 1 { throw fail("--lora-r must be at least 1 (got \(loraRank))") }
        if !(0...1).contains(warmupRatio) { throw fail("--warmup-ratio must be in [0, 1] (got \(warmupRatio))") }
        if weightDecay < 0 { throw fail("--weight-decay must be ≥ 0 (got \(weightDecay))") }
        if !(headScale > 0) { throw fail("--head-scale must be positive (got \(headScale))") }
        if let maxTrain, maxTrain < 2 { throw fail("--max-train must be at least 2 (got \(maxTrain))") }
        if let maxEval, maxEval < 1 { throw fail("--max-eval must be at least 1 (got \(maxEval))") }
        if let dropout, !(0..<1).contains(dropout) { throw fail("--dropout must be in [0, 1) (got \(dropout))") }
    }
}

/// Errors of a training run.
public enum TrainingError: Error, LocalizedError, Equatable {
    case invalidSetting(String)
    case divergedReplicas(epoch: Int, detail: String)
    case badCheckpoint(String)
    case nonFiniteLoss(epoch: Int, step: Int)

    public var errorDescription: String? {
        switch self {
        case let .invalidSetting(message): return message
        case let .divergedReplicas(epoch, detail):
            return "parameters differ between ranks after epoch \(epoch) (\(detail)); the replicas diverged — check that every rank runs the same binary and data"
        case let .badCheckpoint(message): return message
        case let .nonFiniteLoss(epoch, step):
            return "the training loss became NaN or infinite at epoch \(epoch + 1), step \(step + 1); lower --lr"
        }
    }
}
