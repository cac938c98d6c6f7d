import Foundation
import Model

/// The content of kernel.json (keys in snake_case). Everything except `run` is determined by
/// the inputs, so a resumed run writes the same values; `run` holds timings and memory.
public struct NTKReport: Codable, Sendable {
    public struct ExampleList: Codable, Sendable {
        public var ids: [String]
        public var labels: [Int]
    }
    public struct ParameterInfo: Codable, Sendable {
        /// "backbone" or "lora".
        public var set: String
        /// Parameters in the dense Jacobian (the word table excluded).
        public var denseCount: Int
        /// Word-table parameters, handled sparsely (0 for LoRA).
        public var wordEmbeddingCount: Int
        /// "exact" or "sampled fraction F, seed S (scaled by 1/F)".
        public var wordEmbedding: String
    }
    public struct ModelInfo: Codable, Sendable {
        public var directory: String
        /// `ParameterDigest` (FNV-1a over 64-bit words) of the backbone and LoRA values as float32 bytes, in arena order.
        public var digest: String
        public var family: String
        public var layers: Int
        public var hidden: Int
    }
    public struct HeadInfo: Codable, Sendable {
        public var source: String
        /// `ParameterDigest` of the float64 weight then bias.
        public var digest: String
        /// ‖V‖_F (the paper's Norm(C)).
        public var weightNorm: Double
    }
    public struct PlanInfo: Codable, Sendable {
        public var ranks: Int
        public var chunks: Int
        public var chunkParameters: [Int]
        public var slabWidth: Int
        /// How the ranks shared the Gram products: "rows" or "slabs" (NTKGramSplit).
        public var gramSplit: String
        public var memoryBudgetBytes: Int
        public var precision: String
        public var maxLength: Int
    }
    public struct KernelSummary: Codable, Sendable {
        public var frobeniusTrain: Double
        public var frobeniusEval: Double?
        public var spectrum: KernelAnalysis.Spectrum?
        public var kernelRegression: KernelAnalysis.KernelAccuracy?
        /// Why the kernel regression is missing, when it is.
        public var kernelRegressionNote: String?
    }
    public struct OneStep: Codable, Sendable {
        public var stepSize: Double
        public var convention: String
        public var comparison: KernelAnalysis.ChangeComparison
    }
    public struct Analysis: Codable, Sendable {
        public var rankRule: String
        public var pte: KernelSummary
        public var fte: KernelSummary
        public var ntk: KernelSummary
        /// The paper's FT ratio over the train examples.
        public var ftRatio: Double
        public var oneStep: OneStep
        /// Mean train cross-entropy of the head on these examples before the step.
        public var trainLoss: Double
    }
    public struct RunInfo: Codable, Sendable {
        /// Seconds per phase, the slowest rank's.
        public var timings: [String: Double]
        /// Seconds per phase of every rank (rank order): where the slowest rank spends its time.
        public var timingsByRank: [[String: Double]]
        public var totalSeconds: Double
        public var peakRssMib: [Double]
        /// Gram GFLOP/s of every rank (its product flops / its product seconds).
        public var gramGflops: [Double]
        public var gramFlops: Double
        /// First chunk computed by this run (0 unless it resumed a checkpoint).
        public var resumedFromChunk: Int
    }

    public var format = "lpft-mpi ntk v1"
    public var rowOrder = "example-major: row i·C + c is example i, class c (train rows for the columns and for "
        + "the train×train files; eval rows for the rows of the *_eval files)"
    public var classes: Int
    public var classNames: [String]?
    public var data: String
    public var train: ExampleList
    public var eval: ExampleList?
    /// Kernel name → file: pte, fte, ntk ((N·C)²), and pte_eval, fte_eval, ntk_eval ((M·C)×(N·C)).
    public var files: [String: String]
    public var parameters: ParameterInfo
    public var model: ModelInfo
    public var head: HeadInfo
    public var plan: PlanInfo
    public var analysis: Analysis?
    public var run: RunInfo

    /// Sorted keys, snake_case, non-finite numbers as strings: stable bytes for equal content.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }

}
