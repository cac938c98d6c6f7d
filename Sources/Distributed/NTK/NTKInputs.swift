import Foundation
import Model

/// Where the head V, b of the kernel comes from.
public enum NTKHeadSource: Sendable {
    /// Given in code (e.g. by the trainer after LP).
    case weights(LinearHead)
    /// A safetensors file with `weight` [C, hidden] and `bias` [C] (any float dtype).
    case file(URL)
    /// The head a training method starts FT from: ft/lora the initial head (Hugging Face
    /// init from the seed, LoRA factors from the same seed); lp-ft/lp-lora the LP head fitted
    /// as training fits it (`linearProbeHead(for:)`).
    case method(NTKMethod)
}

/// What the linear probe needs to fit the LP head exactly as training does.
public struct NTKLinearProbeRequest {
    public let comm: Communicator
    public let method: NTKMethod
    public let modelDirectory: URL
    /// The examples LP trains on (the whole train split; the kernel itself uses a subset).
    public let probeExamples: [Example]
    public let classes: Int
    public let maxLength: Int
    public let seed: UInt64
}

/// Everything one eNTK computation needs. Every rank passes the same settings.
public struct NTKSettings: Sendable {
    /// A Hugging Face model directory (config.json, model.safetensors, tokenizer files).
    public var modelDirectory: URL
    /// The kernel's train examples (rows and columns) and eval examples (rows of eval × train).
    public var train: [Example]
    public var eval: [Example] = []
    /// The examples LP is fitted on for lp-ft/lp-lora (default: `train`).
    public var probeExamples: [Example]?
    /// The number of classes C when the head does not fix it (default: class names, else the
    /// largest label + 1).
    public var classes: Int?
    public var classNames: [String]?
    /// Where the examples came from, for kernel.json (e.g. "task sentiment-ood, split train, 250 of 2595, seed 0").
    public var dataDescription = ""
    public var head: NTKHeadSource
    /// Default: the method's set, else the backbone.
    public var parameterSet: NTKParameterSet?
    public var lora = LoRAConfig()
    /// Seed of the initial head and LoRA factors (methods ft, lora).
    public var seed: UInt64 = 0
    /// The whole parameter arena (backbone, LoRA, head, in `BackboneLayout` order) to use
    /// instead of the directory's weights: the kernel of a model in training
    /// (`train --ntk-every-epoch`). nil: the pretrained weights.
    public var parameterValues: [Float]?
    /// Output folder (pte.npy, fte.npy, ntk.npy, … kernel.json, checkpoint/); nil writes nothing.
    public var outputDirectory: URL?
    /// Bytes per rank for everything the computation holds; the Jacobian slabs get the rest.
    public var memoryBudgetBytes = 4 << 30
    /// nil: the exact sparse word-embedding share; else the paper's sampled estimate.
    public var embeddingSample: WordEmbeddingSample?
    /// Tokens per example, special tokens included; nil: 128 (the paper's) or the model's
    /// limit when that is smaller.
    public var maxLength: Int?
    public var precision: NTKPrecision = .float
    /// Learning rate η of the one-step check; nil picks η so the largest predicted logit
    /// change is 0.01.
    public var stepSize: Double?
    /// Run the one-step check and the analysis (the benchmark turns them off).
    public var analyze = true
    /// Overrides of the budget's chunk and slab sizes (tests use small ones).
    public var chunkParameters: Int?
    public var slabWidth: Int?
    /// nil: by slabs for thin row blocks (fewer than `NTKPlan.thinBlockRows` train rows per
    /// rank, when full-size sums fit the budget), else by rows.
    public var gramSplit: NTKGramSplit?
    /// Fault drill (`ntk --drill-kill-after-chunk K`): rank 0 kills its own process (SIGKILL)
    /// once the checkpoint of chunk K (0-based) is complete, as a node failure would.
    public var drillKillAfterChunk: Int?

    public init(modelDirectory: URL, train: [Example], head: NTKHeadSource) {
        self.modelDirectory = modelDirectory
        self.train = train
        self.head = head
    }
}

// MARK: Example files

public enum NTKExamples {
    /// Reads JSON Lines examples: one object per line with "text", optional "text_pair",
    /// "label" (the class index, an integer ≥ 0) and optional "id" (default "<file>:<line>").
    public static func read(_ url: URL) throws -> [Example] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DataError.missingFile(path: url.path, hint: "Give a JSON Lines file of {\"text\", \"label\"} objects.")
        }
        let name = url.lastPathComponent
        var examples: [Example] = []
        var lineNumber = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { continue }
            struct Row: Decodable {
                let text: String?
                let text_pair: String?
                let label: Int?
                let id: String?
            }
            let bytes = Data(text.utf8)
            let keys = ((try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any]).map { $0.keys.sorted() }
            guard let keys else {
                throw DataError.malformedRow(path: url.path, line: lineNumber, expected: "one JSON object on the line",
                                             found: String(text.prefix(60)))
            }
            let row: Row
            do {
                row = try JSONDecoder().decode(Row.self, from: bytes)
            } catch let DecodingError.typeMismatch(_, context), let DecodingError.dataCorrupted(context) {
                let field = context.codingPath.first?.stringValue ?? "?"
                let expected = field == "label" ? "\"label\" to be a class index (an integer ≥ 0)" : "\"\(field)\" to be a string"
                throw DataError.malformedRow(path: url.path, line: lineNumber, expected: expected, found: String(text.prefix(60)))
            } catch {
                throw DataError.malformedRow(path: url.path, line: lineNumber, expected: "{\"text\": …, \"label\": …}",
                                             found: String(text.prefix(60)))
            }
            guard let body = row.text else {
                throw DataError.missingColumn(path: url.path, line: lineNumber, column: "text", available: keys)
            }
            guard let label = row.label else {
                throw DataError.missingColumn(path: url.path, line: lineNumber, column: "label", available: keys)
            }
            guard label >= 0 else {
                throw DataError.malformedRow(path: url.path, line: lineNumber, expected: "\"label\" to be a class index (an integer ≥ 0)",
                                             found: String(label))
            }
            let id = row.id ?? "\(name):\(lineNumber)"
            examples.append(Example(id: id, text: body, textPair: row.text_pair, label: label))
        }
        guard !examples.isEmpty else { throw DataError.noExamples(path: url.path) }
        return examples
    }

    /// At most `count` examples drawn at random (a fixed permutation from `seed`), kept in
    /// their original order; all of them when there are no more than `count`.
    public static func subset(_ examples: [Example], count: Int?, seed: UInt64) -> [Example] {
        guard let count, count < examples.count else { return examples }
        var order = Array(examples.indices)
        var generator = RandomGenerator(seed: seed)
        generator.shuffle(&order)
        return order.prefix(max(count, 0)).sorted().map { examples[$0] }
    }
}

// MARK: Head files

extension LinearHead {
    /// Reads a head from a safetensors file with `weight` [C, hidden] and `bias` [C].
    public init(safetensors url: URL, hidden: Int) throws {
        let file = try SafetensorsFile(url: url)
        let present = file.tensorNames.joined(separator: ", ")
        guard let weight = file.info("weight"), let bias = file.info("bias") else {
            throw NTKError.headFile(url.path, "a head file needs tensors \"weight\" [C, \(hidden)] and \"bias\" [C]; "
                                    + "it has: \(present.isEmpty ? "(none)" : present)")
        }
        guard weight.shape.count == 2, weight.shape[0] >= 1, weight.shape[1] == hidden else {
            throw NTKError.headFile(url.path, "tensor \"weight\" has shape \(weight.shape); expected [C, \(hidden)] "
                                    + "(C classes × the model's hidden size \(hidden))")
        }
        guard bias.shape == [weight.shape[0]] else {
            throw NTKError.headFile(url.path, "tensor \"bias\" has shape \(bias.shape); expected [\(weight.shape[0])] to match weight")
        }
        let w = try file.doubles("weight"), b = try file.doubles("bias")
        if let bad = (w + b).firstIndex(where: { !$0.isFinite }) {
            throw NTKError.headFile(url.path, "value \(bad) of the head is not finite")
        }
        self.init(classes: weight.shape[0], dimension: hidden, weight: w, bias: b)
    }

    /// Writes the head as float64 tensors `weight` [C, D] and `bias` [C] (atomic).
    public func writeSafetensors(to url: URL) throws {
        try SafetensorsWriter.write([.init(name: "weight", shape: [classes, dimension], values: .float64(weight)),
                                     .init(name: "bias", shape: [classes], values: .float64(bias))], to: url)
    }
}
